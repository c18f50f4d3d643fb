//! A DynamoDB (the embedded one, or DynamoDB Local) and moto for a whole
//! test stage: the toolkit's `services` command starts them once (as the
//! tests would find them: `DYNAMODB_LOCAL_PROVIDER`, `DYNAMODB_ENDPOINT`,
//! Docker, or Java; `MOTO_ENDPOINT` or `target/moto-venv`), and every test
//! binary gets their endpoints through the environment, each test still on a table of its own. Closing the
//! command's standard input stops them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::cmd::{self, Failed, Result};

/// The running services and their endpoints.
#[derive(Debug)]
pub(crate) struct Services {
    child: Child,
    pub(crate) env: Vec<(String, String)>,
}

impl Services {
    /// Starts them with the toolkit the caller built, `env` set for the
    /// command (`DYNAMODB_LOCAL_PROVIDER` chooses the DynamoDB: `embedded`
    /// for the embedded one).
    pub(crate) fn start(env: &[(&str, &str)]) -> Result<Self> {
        let binary = crate::server::target_dir().join("debug/orders-toolkit");
        eprintln!("$ {} services", binary.display());
        let mut child = Command::new(&binary)
            .arg("services")
            .envs(env.iter().copied())
            .current_dir(cmd::project_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Failed::new(format!("could not start {}: {e}", binary.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Failed::new("no standard output from orders-toolkit services"))?;
        let mut env = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some((key, value)) = line.split_once('=') {
                eprintln!("{key}={value}");
                env.push((key.to_owned(), value.to_owned()));
            }
            if env.len() == 2 {
                break;
            }
        }
        if env.len() < 2 {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(Failed::new(format!(
                "orders-toolkit services ended ({status}) before it named both endpoints"
            )));
        }
        Ok(Self { child, env })
    }
}

impl Services {
    /// The endpoints as environment pairs for a test run.
    pub(crate) fn env_pairs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The value the command printed for `key`.
    pub(crate) fn endpoint(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Closing standard input ends the command, whose watchdogs stop
        // DynamoDB Local and moto.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
