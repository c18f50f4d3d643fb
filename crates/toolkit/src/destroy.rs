//! `destroy`: deletes a stage's stack with `sam delete`, after saying what
//! survives it (resources the template retains, the SAM deployment bucket)
//! and after a confirmation: the stage's name typed back, or `--yes`.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

use crate::deploy::Step;

pub const USAGE: &str = "\
destroy --stage STAGE [--yes] [--dry-run]

Deletes the stage's stack (sam delete) and what it made, except what the
template retains (DeletionPolicy Retain: the orders table), which it lists
first with how to remove it.

  --stage    the samconfig.toml environment
  --yes      do not ask (CI); without it, type the stage's name to confirm
  --dry-run  print what would be deleted and kept; nothing runs
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyOptions {
    pub stage: String,
    pub yes: bool,
    pub dry_run: bool,
}

pub fn parse(args: &[String]) -> Result<Option<DestroyOptions>, String> {
    let flags = crate::stage::Flags::parse(args, &["--yes", "--dry-run"], &["--stage"])?;
    if flags.help {
        return Ok(None);
    }
    Ok(Some(DestroyOptions {
        stage: flags.required("--stage")?,
        yes: flags.switches.contains("--yes"),
        dry_run: flags.switches.contains("--dry-run"),
    }))
}

/// What survives the stack, each as a line: the template's retained
/// resources (with the stage's names where the template names them), and
/// the deployment bucket.
pub fn survivors(root: &Path, stage: &str) -> Result<Vec<String>, String> {
    let template = crate::template::Template::load(&root.join("infra/template.yaml"))
        .map_err(|e| e.to_string())?;
    let mut kept = Vec::new();
    for (id, resource) in template.resources_raw() {
        let policy = resource["DeletionPolicy"].as_str().unwrap_or("Delete");
        if !matches!(policy, "Retain" | "RetainExceptOnCreate" | "Snapshot") {
            continue;
        }
        let kind = resource["Type"].as_str().unwrap_or("?");
        let named = |property: &str| {
            resource["Properties"][property]["Fn::Sub"]
                .as_str()
                .or_else(|| resource["Properties"][property].as_str())
                .map(|n| n.replace("${Stage}", stage))
        };
        let protected = if stage == crate::stage_token::PRODUCTION {
            "; its deletion protection is on: turn it off first"
        } else {
            ""
        };
        let line = match (kind, named("TableName"), named("UserPoolName")) {
            ("AWS::DynamoDB::Table", Some(table), _) => format!(
                "{id}: the table {table} and its data (DeletionPolicy {policy}); deploying the stage again needs it gone first{protected}: aws dynamodb delete-table --table-name {table}"
            ),
            ("AWS::Cognito::UserPool", _, Some(pool)) => format!(
                "{id}: the user pool {pool}, its users and groups (DeletionPolicy {policy}){protected}: aws cognito-idp delete-user-pool --user-pool-id ID (the stack's UserPoolId output; read it before the stack goes)"
            ),
            (kind, _, _) => format!("{id} ({kind}, DeletionPolicy {policy})"),
        };
        kept.push(line);
    }
    kept.push(
        "the SAM deployment bucket (aws-sam-cli-managed-default), which other stacks share"
            .to_owned(),
    );
    Ok(kept)
}

/// The command that deletes the stack.
pub fn plan(root: &Path, stage: &str) -> Result<Step, String> {
    let (stack, region) = crate::deploy::stage_config(root, stage)?;
    Ok(Step {
        why: format!("delete stack {stack} in {region} and the artifacts it deployed"),
        program: "sam".to_owned(),
        args: [
            "delete",
            "--stack-name",
            &stack,
            "--region",
            &region,
            "--no-prompts",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect(),
    })
}

/// Whether the answer read from `input` confirms deleting `stage`.
pub fn confirmed(input: &mut dyn BufRead, stage: &str) -> bool {
    let mut line = String::new();
    input.read_line(&mut line).is_ok() && line.trim() == stage
}

/// Runs `destroy`: the text to print and the exit status.
pub fn run(root: &Path, options: &DestroyOptions, input: &mut dyn BufRead) -> (String, u8) {
    let (step, kept) = match (plan(root, &options.stage), survivors(root, &options.stage)) {
        (Ok(step), Ok(kept)) => (step, kept),
        (Err(e), _) | (_, Err(e)) => return (format!("error: {e}\n"), 2),
    };
    let mut out = format!("{step}\n\nKept after the stack is gone:\n");
    for line in &kept {
        out.push_str(&format!("  - {line}\n"));
    }
    if options.dry_run {
        out.push_str("\n(dry run: nothing was deleted)\n");
        return (out, 0);
    }
    if !options.yes {
        eprint!(
            "{out}\nType the stage's name ({}) to delete its stack: ",
            options.stage
        );
        if !confirmed(input, &options.stage) {
            return ("not confirmed: nothing was deleted\n".to_owned(), 1);
        }
        out.clear();
    }
    eprintln!("$ {} {}", step.program, step.args.join(" "));
    match Command::new(&step.program)
        .args(&step.args)
        .current_dir(root)
        .status()
    {
        Ok(status) if status.success() => {
            out.push_str(&format!("stack of {} deleted\n", options.stage));
            (out, 0)
        }
        Ok(status) => (format!("{out}error: sam delete failed ({status})\n"), 1),
        Err(e) => (
            format!("{out}error: cannot run sam ({e}): pip install aws-sam-cli\n"),
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_retained_table_is_named_for_the_stage_with_how_to_remove_it() {
        let kept = survivors(&root(), "staging").unwrap();
        assert!(
            kept.iter()
                .any(|k| k.starts_with("OrdersTable: the table staging-orders")
                    && k.contains("aws dynamodb delete-table --table-name staging-orders")),
            "{kept:?}"
        );
        assert!(
            kept.iter().any(|k| k.contains("deployment bucket")),
            "{kept:?}"
        );
        assert!(
            kept.iter().any(|k| k
                .starts_with("UserPool: the user pool staging-orders-users, its users")
                && k.contains("aws cognito-idp delete-user-pool")),
            "{kept:?}"
        );
        let prod = survivors(&root(), "prod").unwrap();
        assert!(
            prod.iter()
                .filter(|k| k.contains("deletion protection is on"))
                .count()
                == 2,
            "{prod:?}"
        );
    }

    #[test]
    fn the_plan_deletes_the_stages_stack_without_sams_own_prompt() {
        let step = plan(&root(), "dev").unwrap();
        assert_eq!(step.program, "sam");
        assert_eq!(
            step.args,
            [
                "delete",
                "--stack-name",
                "orders-dev",
                "--region",
                "us-east-1",
                "--no-prompts"
            ]
        );
    }

    #[test]
    fn only_the_stages_name_confirms_and_a_refusal_deletes_nothing() {
        assert!(confirmed(&mut "dev\n".as_bytes(), "dev"));
        for answer in ["", "y\n", "yes\n", "prod\n"] {
            assert!(!confirmed(&mut answer.as_bytes(), "dev"), "{answer:?}");
        }
        let options = DestroyOptions {
            stage: "dev".into(),
            yes: false,
            dry_run: false,
        };
        let (out, code) = run(&root(), &options, &mut "no\n".as_bytes());
        assert_eq!(
            (out.as_str(), code),
            ("not confirmed: nothing was deleted\n", 1)
        );
    }

    #[test]
    fn a_dry_run_says_what_goes_and_what_stays() {
        let options = DestroyOptions {
            stage: "prod".into(),
            yes: true,
            dry_run: true,
        };
        let (out, code) = run(&root(), &options, &mut "".as_bytes());
        assert_eq!(code, 0);
        assert!(out.contains("sam delete --stack-name orders-prod"), "{out}");
        assert!(out.contains("prod-orders"), "{out}");
        assert!(out.ends_with("(dry run: nothing was deleted)\n"), "{out}");
    }
}
