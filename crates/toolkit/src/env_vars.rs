//! `--env-vars FILE`: SAM's environment file
//! (`{"Parameters": {…}, "<LogicalId>": {…}}`, serverless-sam-cli-using-invoke).
//! `Parameters` applies to every function that declares the variable; a
//! section named after a function (logical id, binary, name or ARN)
//! applies to it and wins.
//!
//! Invariant: a variable the template does not declare for the function
//! is an error that names it. SAM drops such a variable silently; in the
//! cloud the function would not have it, so a test that passes with it
//! would fail when deployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::FunctionSpec;

#[derive(Debug, thiserror::Error)]
pub enum EnvVarsError {
    #[error("cannot read the env file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the env file {path} is not a JSON object of sections: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error(
        "the env file {path} sets {variable} for {function}, but the template does not declare it in {function}'s Environment.Variables (or Globals): the deployed function would not have it; declare it in the template first"
    )]
    Undeclared {
        path: PathBuf,
        function: String,
        variable: String,
    },
    #[error(
        "the env file {path} has a section {section:?}, which names no function of the template (known: {known}); `Parameters` applies to all"
    )]
    UnknownFunction {
        path: PathBuf,
        section: String,
        known: String,
    },
}

/// The file's values, checked against the functions.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    all: BTreeMap<String, String>,
    /// By function logical id.
    per_function: BTreeMap<String, BTreeMap<String, String>>,
}

impl EnvVars {
    /// What the file sets for `function`, over its template values.
    pub fn for_function(&self, function: &FunctionSpec) -> BTreeMap<String, String> {
        let mut vars: BTreeMap<String, String> = self
            .all
            .iter()
            .filter(|(name, _)| function.environment.contains_key(*name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(own) = self.per_function.get(&function.id) {
            vars.extend(own.clone());
        }
        vars
    }
}

fn section(
    path: &Path,
    name: &str,
    value: &Value,
) -> Result<BTreeMap<String, String>, EnvVarsError> {
    let shape = |reason: String| EnvVarsError::Shape {
        path: path.to_owned(),
        reason,
    };
    let map = value
        .as_object()
        .ok_or_else(|| shape(format!("section {name:?} is not an object")))?;
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(shape(format!(
                        "{name}.{k} is not a string, number or boolean"
                    )));
                }
            };
            Ok((k.clone(), text))
        })
        .collect()
}

/// Reads and checks `path` against `functions`.
pub fn load(path: &Path, functions: &[FunctionSpec]) -> Result<EnvVars, EnvVarsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EnvVarsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, functions)
}

pub fn parse(path: &Path, text: &str, functions: &[FunctionSpec]) -> Result<EnvVars, EnvVarsError> {
    let document: Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
            EnvVarsError::Shape {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?;
    let sections = document.as_object().ok_or_else(|| EnvVarsError::Shape {
        path: path.to_owned(),
        reason: "the top level is not an object".to_owned(),
    })?;
    let mut vars = EnvVars::default();
    for (name, value) in sections {
        let values = section(path, name, value)?;
        if name == "Parameters" {
            for variable in values.keys() {
                if !functions
                    .iter()
                    .any(|f| f.environment.contains_key(variable))
                {
                    return Err(EnvVarsError::Undeclared {
                        path: path.to_owned(),
                        function: "any function".to_owned(),
                        variable: variable.clone(),
                    });
                }
            }
            vars.all = values;
            continue;
        }
        let Some(function) = functions.iter().find(|f| f.is_named(name)) else {
            return Err(EnvVarsError::UnknownFunction {
                path: path.to_owned(),
                section: name.clone(),
                known: functions
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if let Some(variable) = values
            .keys()
            .find(|v| !function.environment.contains_key(*v))
        {
            return Err(EnvVarsError::Undeclared {
                path: path.to_owned(),
                function: function.id.clone(),
                variable: variable.clone(),
            });
        }
        vars.per_function
            .entry(function.id.clone())
            .or_default()
            .extend(values);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::AsyncConfig;

    fn function(id: &str, vars: &[&str]) -> FunctionSpec {
        FunctionSpec {
            id: id.to_owned(),
            name: id.to_owned(),
            binary: id.to_lowercase(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            environment: vars
                .iter()
                .map(|v| ((*v).to_owned(), "template".to_owned()))
                .collect(),
            async_config: AsyncConfig::default(),
            build: crate::model::BuildSpec::default(),
            code: crate::model::Code::Unresolved,
        }
    }

    fn functions() -> Vec<FunctionSpec> {
        vec![
            function("Api", &["TABLE_NAME", "LOG"]),
            function("Worker", &["LOG"]),
        ]
    }

    fn check(text: &str) -> Result<EnvVars, String> {
        parse(Path::new("env.json"), text, &functions()).map_err(|e| e.to_string())
    }

    #[test]
    fn parameters_apply_where_declared_and_a_functions_section_wins() {
        let vars = check(
            r#"{"Parameters": {"LOG": "debug", "TABLE_NAME": "t"}, "Worker": {"LOG": "trace"}}"#,
        )
        .unwrap();
        let fs = functions();
        assert_eq!(
            vars.for_function(&fs[0]),
            [
                ("LOG".to_owned(), "debug".to_owned()),
                ("TABLE_NAME".to_owned(), "t".to_owned())
            ]
            .into()
        );
        assert_eq!(
            vars.for_function(&fs[1]),
            [("LOG".to_owned(), "trace".to_owned())].into()
        );
    }

    #[test]
    fn sections_may_name_the_binary_and_values_may_be_numbers() {
        let vars = check("\u{feff}{\"api\": {\"LOG\": 3}}").unwrap();
        assert_eq!(vars.for_function(&functions()[0])["LOG"], "3");
    }

    #[test]
    fn an_undeclared_variable_is_an_error_that_names_it() {
        let err = check(r#"{"Worker": {"TABLE_NAME": "t"}}"#).unwrap_err();
        assert!(
            err.contains("sets TABLE_NAME for Worker, but the template does not declare it"),
            "{err}"
        );
        let err = check(r#"{"Parameters": {"SECRET": "x"}}"#).unwrap_err();
        assert!(err.contains("sets SECRET for any function"), "{err}");
    }

    #[test]
    fn a_section_for_no_function_and_bad_shapes_are_errors() {
        let err = check(r#"{"Nope": {}}"#).unwrap_err();
        assert!(
            err.contains("names no function of the template (known: Api, Worker)"),
            "{err}"
        );
        assert!(check("[]").unwrap_err().contains("not an object"));
        assert!(
            check(r#"{"Api": {"LOG": {"a": 1}}}"#)
                .unwrap_err()
                .contains("Api.LOG is not a string")
        );
        assert!(check("{").is_err());
    }
}
