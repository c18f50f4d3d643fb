//! Finds each function's code as `sam build` finds it, so a project runs
//! with its template unchanged:
//! - `Metadata.BuildMethod: rust-cargolambda`: cargo lambda builds in the
//!   `CodeUri` folder, `--bin Binary` when `BuildProperties.Binary` names
//!   one; without it, the folder's package (or, for a virtual manifest,
//!   the workspace) must have exactly one binary target.
//! - `BuildMethod: makefile`, whose `CodeUri` is the folder the Makefile
//!   fills (`target/lambda/NAME/`, `build/NAME/`): the binary NAME of the
//!   workspace that folder lies in (else the template's).
//! - no build method, on a `provided` runtime: a `bootstrap` already in
//!   the `CodeUri` folder runs as it is; else as with `makefile`.
//!
//! Binary targets come from `cargo metadata --no-deps`, once per manifest.
//! Ambiguity and absence are errors that name the function, its `CodeUri`
//! and the candidates, never a guess.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{CargoBinary, Code, FunctionSpec};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{function}: CodeUri {code_uri} has no Cargo.toml at {manifest}")]
    NoManifest {
        function: String,
        code_uri: String,
        manifest: PathBuf,
    },
    #[error("cannot run {cargo} metadata in {dir}: {source}")]
    Cargo {
        cargo: String,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cargo metadata in {dir} failed: {stderr}")]
    Metadata { dir: PathBuf, stderr: String },
    #[error("cargo metadata in {dir} wrote what is not its JSON: {source}")]
    Json {
        dir: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{function}: CodeUri {code_uri} has no binary named {binary}; its binaries: {candidates}"
    )]
    NoSuchBinary {
        function: String,
        code_uri: String,
        binary: String,
        candidates: String,
    },
    #[error(
        "{function}: CodeUri {code_uri} has {count} binaries ({candidates}); name one with Metadata.BuildProperties.Binary"
    )]
    Ambiguous {
        function: String,
        code_uri: String,
        count: usize,
        candidates: String,
    },
    #[error("{function}: CodeUri {code_uri} has no binary target")]
    NoBinary { function: String, code_uri: String },
    #[error(
        "{function}: CodeUri {code_uri} holds no bootstrap, and the workspace at {dir} has no binary named {binary} (its binaries: {candidates})"
    )]
    NoBuiltBinary {
        function: String,
        code_uri: String,
        binary: String,
        dir: PathBuf,
        candidates: String,
    },
    #[error(
        "{function}: binary {binary} is in two packages of the workspace at {dir} ({packages}); name the package's own folder as CodeUri"
    )]
    TwoPackages {
        function: String,
        binary: String,
        dir: PathBuf,
        packages: String,
    },
}

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

impl Package {
    fn binaries(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .filter(|t| t.kind.iter().any(|k| k == "bin"))
            .map(|t| t.name.as_str())
    }
}

/// Finds code for every function of a model, reading each workspace once.
#[derive(Debug, Default)]
pub struct Discovery {
    workspaces: HashMap<PathBuf, std::sync::Arc<Metadata>>,
}

impl Discovery {
    /// Sets `code` (and `binary`) of each function in `functions`, whose
    /// template is at `template`.
    pub fn resolve_all(
        &mut self,
        template: &Path,
        functions: &mut [FunctionSpec],
    ) -> Result<(), DiscoveryError> {
        let template_dir = template
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for function in functions {
            let (binary, code) = self.resolve(template_dir, function)?;
            function.binary = binary;
            function.code = code;
        }
        Ok(())
    }

    fn resolve(
        &mut self,
        template_dir: &Path,
        function: &FunctionSpec,
    ) -> Result<(String, Code), DiscoveryError> {
        let build = &function.build;
        let code_uri = build.code_uri.clone().unwrap_or_else(|| ".".to_owned());
        let folder = template_dir.join(&code_uri);
        if build.build_method.as_deref() == Some("rust-cargolambda") {
            let manifest = folder.join("Cargo.toml");
            if !manifest.is_file() {
                return Err(DiscoveryError::NoManifest {
                    function: function.id.clone(),
                    code_uri,
                    manifest,
                });
            }
            let metadata = self.metadata(&folder)?;
            // A package's own folder: its binaries. A virtual manifest:
            // every member's.
            let own = metadata
                .packages
                .iter()
                .find(|p| same_file(&p.manifest_path, &manifest));
            let packages: Vec<&Package> = match own {
                Some(package) => vec![package],
                None => metadata.packages.iter().collect(),
            };
            let candidates: Vec<(&str, &str)> = packages
                .iter()
                .flat_map(|p| p.binaries().map(move |b| (b, p.name.as_str())))
                .collect();
            let listed = || {
                candidates
                    .iter()
                    .map(|(b, _)| *b)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let chosen: Vec<&(&str, &str)> = match &build.binary {
                Some(binary) => candidates.iter().filter(|(b, _)| b == binary).collect(),
                None => candidates.iter().collect(),
            };
            return match (chosen.as_slice(), &build.binary) {
                ([(binary, package)], _) => Ok((
                    (*binary).to_owned(),
                    Code::Cargo(cargo_binary(&metadata, package)),
                )),
                ([], Some(binary)) => Err(DiscoveryError::NoSuchBinary {
                    function: function.id.clone(),
                    code_uri,
                    binary: binary.clone(),
                    candidates: listed(),
                }),
                ([], None) => Err(DiscoveryError::NoBinary {
                    function: function.id.clone(),
                    code_uri,
                }),
                (many, Some(binary)) => Err(DiscoveryError::TwoPackages {
                    function: function.id.clone(),
                    binary: binary.clone(),
                    dir: folder,
                    packages: many.iter().map(|(_, p)| *p).collect::<Vec<_>>().join(", "),
                }),
                (many, None) => Err(DiscoveryError::Ambiguous {
                    function: function.id.clone(),
                    code_uri,
                    count: many.len(),
                    candidates: listed(),
                }),
            };
        }
        // A Makefile (or a step before `sam build`) puts the binary in a
        // folder named after it; with no build method the folder may hold
        // the bootstrap already.
        if build.build_method.is_none() {
            let bootstrap = folder.join("bootstrap");
            if bootstrap.is_file() {
                return Ok((function.id.clone(), Code::Bootstrap(bootstrap)));
            }
        }
        let binary = build.binary.clone().unwrap_or_else(|| {
            Path::new(&code_uri)
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(name) => name.to_str(),
                    _ => None,
                })
                .next_back()
                .unwrap_or_default()
                .to_owned()
        });
        // The workspace the code folder lies in (it need not exist yet:
        // `target/lambda/NAME/` is made by the build), else the template's.
        let workspace_dir = folder
            .ancestors()
            .find(|dir| dir.join("Cargo.toml").is_file())
            .unwrap_or(template_dir)
            .to_owned();
        let metadata = self.metadata(&workspace_dir)?;
        let owners: Vec<&Package> = metadata
            .packages
            .iter()
            .filter(|p| p.binaries().any(|b| b == binary))
            .collect();
        match owners.as_slice() {
            [package] => Ok((binary, Code::Cargo(cargo_binary(&metadata, &package.name)))),
            [] => Err(DiscoveryError::NoBuiltBinary {
                function: function.id.clone(),
                code_uri,
                binary,
                dir: workspace_dir,
                candidates: metadata
                    .packages
                    .iter()
                    .flat_map(Package::binaries)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            many => Err(DiscoveryError::TwoPackages {
                function: function.id.clone(),
                binary,
                dir: workspace_dir,
                packages: many
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// `cargo metadata --no-deps` of the workspace `dir` is in, once.
    fn metadata(&mut self, dir: &Path) -> Result<std::sync::Arc<Metadata>, DiscoveryError> {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        if let Some(found) = self.workspaces.get(&key) {
            return Ok(found.clone());
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = std::process::Command::new(&cargo)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| DiscoveryError::Cargo {
                cargo: cargo.clone(),
                dir: dir.to_owned(),
                source,
            })?;
        if !output.status.success() {
            return Err(DiscoveryError::Metadata {
                dir: dir.to_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let metadata: Metadata =
            serde_json::from_slice(&output.stdout).map_err(|source| DiscoveryError::Json {
                dir: dir.to_owned(),
                source,
            })?;
        let metadata = std::sync::Arc::new(metadata);
        self.workspaces.insert(key, metadata.clone());
        Ok(metadata)
    }
}

fn cargo_binary(metadata: &Metadata, package: &str) -> CargoBinary {
    CargoBinary {
        workspace_root: metadata.workspace_root.clone(),
        target_directory: metadata.target_directory.clone(),
        package: package.to_owned(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;
