//! The template's functions, as the toolkit reads them (`orders-toolkit
//! functions`): tasks that measure or build every function take the list
//! from there and name none.

use std::process::Command;

use crate::cmd::{self, Failed, Result};

/// One function of `infra/template.yaml`.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    /// Its binary, which is also its crate's name.
    pub(crate) binary: String,
    /// What invokes it: `api`, `rule`, `schedule`.
    pub(crate) triggers: Vec<String>,
}

impl Function {
    pub(crate) fn serves_the_api(&self) -> bool {
        self.triggers.iter().any(|t| t == "api")
    }

    pub(crate) fn is_a_rule_target(&self) -> bool {
        self.triggers.iter().any(|t| t == "rule")
    }
}

/// Every function of the template, in the template's order.
pub(crate) fn template_functions() -> Result<Vec<Function>> {
    crate::server::build_toolkit()?;
    let binary = crate::server::target_dir().join("debug/orders-toolkit");
    let output = Command::new(&binary)
        .arg("functions")
        .current_dir(cmd::project_root())
        .output()
        .map_err(|e| Failed::new(format!("{}: {e}", binary.display())))?;
    if !output.status.success() {
        return Err(Failed::new(format!(
            "orders-toolkit functions failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let functions: Vec<Function> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // Logical id, binary, triggers: the id is not needed here.
            let mut fields = line.split('\t').skip(1);
            Some(Function {
                binary: fields.next()?.to_owned(),
                triggers: fields
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect();
    if functions.is_empty() {
        return Err(Failed::new("the template declares no function"));
    }
    Ok(functions)
}

/// The function on the template's API routes (the first, when several).
pub(crate) fn api_function(functions: &[Function]) -> Result<&Function> {
    functions
        .iter()
        .find(|f| f.serves_the_api())
        .ok_or_else(|| Failed::new("no function of the template serves an API route"))
}
