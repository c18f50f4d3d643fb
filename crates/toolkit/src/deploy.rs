//! `deploy`: builds with cargo-lambda and deploys infra/ for a stage with
//! SAM, or (`--functions-only`) updates each function's code with
//! `cargo lambda deploy`. `--dry-run` prints every command and checks what
//! can be checked offline; it needs no AWS credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
deploy: build and deploy a stage

Usage:
  deploy --stage dev|staging|prod [--functions-only] [--x86-64] [--dry-run]
         [--build-only | --prebuilt DIR] [--no-confirm-changeset]

  --stage           the samconfig.toml environment to deploy
  --functions-only  update the functions' code in the stage's existing stack
                    with `cargo lambda deploy` (names read from the stack)
  --x86-64          build for x86_64 instead of arm64
  --dry-run         print the plan and check it offline; nothing runs
  --build-only      build (cargo lambda, sam build into .aws-sam/build) and
                    deploy nothing: the artifact a pipeline promotes
  --prebuilt DIR    deploy DIR/template.yaml, a `sam build` output made
                    before (by --build-only), without building anything
  --no-confirm-changeset  deploy without asking to confirm the change set
                    (CI; the prod environment's approval guards prod there)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOptions {
    pub stage: String,
    pub functions_only: bool,
    pub x86_64: bool,
    pub dry_run: bool,
    pub build_only: bool,
    pub prebuilt: Option<PathBuf>,
    pub no_confirm_changeset: bool,
}

pub fn parse(args: &[String]) -> Result<Option<DeployOptions>, String> {
    let mut stage = None;
    let mut options = DeployOptions {
        stage: String::new(),
        functions_only: false,
        x86_64: false,
        dry_run: false,
        build_only: false,
        prebuilt: None,
        no_confirm_changeset: false,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--stage" => stage = Some(rest.next().ok_or("--stage needs a value")?.clone()),
            "--functions-only" => options.functions_only = true,
            "--x86-64" => options.x86_64 = true,
            "--dry-run" => options.dry_run = true,
            "--build-only" => options.build_only = true,
            "--prebuilt" => {
                options.prebuilt = Some(PathBuf::from(
                    rest.next().ok_or("--prebuilt needs a directory")?,
                ));
            }
            "--no-confirm-changeset" => options.no_confirm_changeset = true,
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other}")),
        }
    }
    options.stage = stage.ok_or("--stage is required")?;
    let modes = [
        options.functions_only,
        options.build_only,
        options.prebuilt.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(
            "--functions-only, --build-only and --prebuilt are ways to deploy; give one".to_owned(),
        );
    }
    Ok(Some(options))
}

/// One step of the plan: a command, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub why: String,
    pub program: String,
    pub args: Vec<String>,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "# {}\n{} {}",
            self.why,
            self.program,
            self.args.join(" ")
        )
    }
}

fn step(why: &str, program: &str, args: &[&str]) -> Step {
    Step {
        why: why.to_owned(),
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// The stack name and region of `stage` in samconfig.toml.
pub fn stage_config(root: &Path, stage: &str) -> Result<(String, String), String> {
    let path = root.join("infra/samconfig.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let env = table.get(stage).ok_or_else(|| {
        let known: Vec<&String> = table.keys().filter(|k| *k != "version").collect();
        format!(
            "no stage {stage:?} in {}; stages: {known:?}",
            path.display()
        )
    })?;
    let stack = env
        .get("deploy")
        .and_then(|d| d.get("parameters"))
        .and_then(|p| p.get("stack_name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("[{stage}.deploy.parameters] has no stack_name"))?;
    let region = env
        .get("global")
        .and_then(|g| g.get("parameters"))
        .and_then(|p| p.get("region"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("[{stage}.global.parameters] has no region"))?;
    Ok((stack.to_owned(), region.to_owned()))
}

/// The commands a deploy runs, in order.
pub fn plan(root: &Path, options: &DeployOptions) -> Result<Vec<Step>, String> {
    let (stack, region) = stage_config(root, &options.stage)?;
    if let Some(dir) = &options.prebuilt {
        let template = dir.join("template.yaml");
        if !template.is_file() && !options.dry_run {
            return Err(format!(
                "{} is missing: --prebuilt takes the directory `deploy --build-only` filled (.aws-sam/build)",
                template.display()
            ));
        }
        return Ok(vec![sam_deploy(
            options,
            &stack,
            &region,
            &template.to_string_lossy(),
        )]);
    }
    let arch = if options.x86_64 {
        "--x86-64"
    } else {
        "--arm64"
    };
    // The functions come from the template, each built from the crate
    // named as its binary.
    let template = crate::template::Template::load(&root.join("infra/template.yaml"))
        .map_err(|e| e.to_string())?;
    let functions: Vec<(String, String)> = template
        .resources_raw()
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .filter_map(|(id, _)| Some((id.to_owned(), template.function_binary(id)?)))
        .collect();
    if functions.is_empty() {
        return Err("infra/template.yaml declares no AWS::Serverless::Function".to_owned());
    }
    let mut build = vec!["lambda", "build", "--release", arch];
    for (_, binary) in &functions {
        build.extend(["--package", binary.as_str()]);
    }
    build.extend(["--output-format", "zip"]);
    let mut steps = vec![step(
        "build the template's functions for Lambda (provided.al2023)",
        "cargo",
        &build,
    )];
    if options.functions_only {
        for (logical, binary) in &functions {
            let (logical, binary) = (logical.as_str(), binary.as_str());
            let placeholder = format!("<{logical} of {stack}>");
            steps.push(step(
                &format!("the deployed name of {logical}"),
                "aws",
                &[
                    "cloudformation",
                    "describe-stack-resource",
                    "--region",
                    &region,
                    "--stack-name",
                    &stack,
                    "--logical-resource-id",
                    logical,
                    "--query",
                    "StackResourceDetail.PhysicalResourceId",
                    "--output",
                    "text",
                ],
            ));
            steps.push(step(
                &format!("update {binary}'s code in place"),
                "cargo",
                &[
                    "lambda",
                    "deploy",
                    "--region",
                    &region,
                    "--binary-name",
                    binary,
                    &placeholder,
                ],
            ));
        }
    } else {
        let architecture = if options.x86_64 { "x86_64" } else { "arm64" };
        let overrides = format!("Stage={} Architecture={architecture}", options.stage);
        steps.push(step(
            "build the SAM application (BuildMethod: rust-cargolambda)",
            "sam",
            &[
                "build",
                "--template-file",
                "infra/template.yaml",
                "--build-dir",
                ".aws-sam/build",
                "--parameter-overrides",
                &overrides,
                "--beta-features",
            ],
        ));
        if !options.build_only {
            steps.push(sam_deploy(
                options,
                &stack,
                &region,
                ".aws-sam/build/template.yaml",
            ));
        }
    }
    Ok(steps)
}

/// `sam deploy` of a built template to the stage's stack.
fn sam_deploy(options: &DeployOptions, stack: &str, region: &str, template: &str) -> Step {
    let architecture = if options.x86_64 { "x86_64" } else { "arm64" };
    let overrides = format!("Stage={} Architecture={architecture}", options.stage);
    let mut args = vec![
        "deploy",
        "--template-file",
        template,
        "--config-file",
        "infra/samconfig.toml",
        "--config-env",
        &options.stage,
        "--parameter-overrides",
        &overrides,
    ];
    if options.no_confirm_changeset {
        args.push("--no-confirm-changeset");
    }
    step(&format!("deploy stack {stack} in {region}"), "sam", &args)
}

fn tool_present(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Problems that stop a real deploy, each with what to do.
pub fn preflight(options: &DeployOptions) -> Vec<String> {
    let mut problems = Vec::new();
    if options.prebuilt.is_none() && !tool_present("cargo", &["lambda", "--version"]) {
        problems.push("cargo-lambda is missing: pip install cargo-lambda (it brings ziglang for cross builds)".to_owned());
    }
    if options.functions_only {
        if !tool_present("aws", &["--version"]) {
            problems.push("the AWS CLI is missing: pip install awscli".to_owned());
        }
    } else if !tool_present("sam", &["--version"]) {
        problems.push("the SAM CLI is missing: pip install aws-sam-cli".to_owned());
    }
    // Building needs no account; deploying does.
    if !options.build_only && !has_credentials() {
        problems.push(
            "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is assumed (CI uses OIDC)"
                .to_owned(),
        );
    }
    problems
}

fn has_credentials() -> bool {
    let var = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if (var("AWS_ACCESS_KEY_ID") && var("AWS_SECRET_ACCESS_KEY"))
        || var("AWS_PROFILE")
        || var("AWS_WEB_IDENTITY_TOKEN_FILE")
        || var("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    {
        return true;
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .is_some_and(|home| {
            home.join(".aws/credentials").is_file() || home.join(".aws/config").is_file()
        })
}

/// Runs (or, dry, prints) the deploy. Returns the exit status.
pub fn run(root: &Path, options: &DeployOptions) -> (String, u8) {
    let steps = match plan(root, options) {
        Ok(steps) => steps,
        Err(e) => return (format!("error: {e}\n"), 2),
    };
    let mut out = String::new();
    if options.dry_run {
        out.push_str(&format!(
            "Plan for stage {} (dry run: nothing is run):\n\n",
            options.stage
        ));
        for s in &steps {
            out.push_str(&format!("{s}\n\n"));
        }
        let problems = preflight(options);
        if problems.is_empty() {
            out.push_str("Preflight: tools and credentials are present.\n");
        } else {
            out.push_str("Preflight (a real deploy would stop here):\n");
            for p in problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        return (out, 0);
    }
    let problems = preflight(options);
    if !problems.is_empty() {
        for p in problems {
            out.push_str(&format!("error: {p}\n"));
        }
        return (out, 1);
    }
    let mut names: Vec<String> = Vec::new();
    for s in steps {
        let args: Vec<String> = s
            .args
            .iter()
            .map(|a| {
                if a.starts_with('<') {
                    names.pop().unwrap_or_else(|| a.clone())
                } else {
                    a.clone()
                }
            })
            .collect();
        eprintln!("$ {} {}", s.program, args.join(" "));
        let mut command = Command::new(&s.program);
        command.args(&args).current_dir(root);
        // The stack lookups are read; everything else talks to the user.
        let result = if s.program == "aws" {
            command.output().map(|o| {
                names.push(String::from_utf8_lossy(&o.stdout).trim().to_owned());
                (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
            })
        } else {
            command.status().map(|status| (status, String::new()))
        };
        match result {
            Ok((status, _)) if status.success() => {}
            Ok((status, stderr)) => {
                out.push_str(&format!("error: {} failed ({status})\n{stderr}", s.program));
                return (out, 1);
            }
            Err(e) => {
                out.push_str(&format!("error: cannot run {}: {e}\n", s.program));
                return (out, 1);
            }
        }
    }
    (out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn options(stage: &str) -> DeployOptions {
        DeployOptions {
            stage: stage.to_owned(),
            functions_only: false,
            x86_64: false,
            dry_run: true,
            build_only: false,
            prebuilt: None,
            no_confirm_changeset: false,
        }
    }

    #[test]
    fn every_stage_has_a_stack_and_a_region() {
        for stage in ["dev", "staging", "prod"] {
            let (stack, region) = stage_config(&root(), stage).expect(stage);
            assert_eq!(stack, format!("orders-{stage}"));
            assert_eq!(region, "us-east-1");
        }
        assert!(
            stage_config(&root(), "qa")
                .unwrap_err()
                .contains(r#"no stage "qa""#)
        );
    }

    #[test]
    fn the_dry_run_plan_builds_then_deploys_the_stage() {
        let (text, code) = run(&root(), &options("dev"));
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains(
                "cargo lambda build --release --arm64 --package fn-api --package fn-events"
            ),
            "{text}"
        );
        assert!(text.contains("sam deploy --template-file .aws-sam/build/template.yaml --config-file infra/samconfig.toml --config-env dev --parameter-overrides Stage=dev Architecture=arm64"), "{text}");
    }

    /// A pipeline builds once (`--build-only`: no deploy step) and deploys
    /// that build to each stage (`--prebuilt`: no build step).
    #[test]
    fn a_build_is_made_once_and_deployed_as_it_is() {
        let mut build = options("dev");
        build.build_only = true;
        let steps = plan(&root(), &build).expect("plan");
        assert!(
            steps
                .iter()
                .any(|s| s.program == "sam" && s.args[0] == "build")
        );
        assert!(
            !steps
                .iter()
                .any(|s| s.args.first().map(String::as_str) == Some("deploy"))
        );

        let mut deploy = options("prod");
        deploy.prebuilt = Some(PathBuf::from("artifact"));
        deploy.no_confirm_changeset = true;
        let steps = plan(&root(), &deploy).expect("plan");
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(steps[0].program, "sam");
        assert_eq!(
            steps[0].args.join(" "),
            "deploy --template-file artifact/template.yaml --config-file infra/samconfig.toml --config-env prod --parameter-overrides Stage=prod Architecture=arm64 --no-confirm-changeset"
        );
    }

    #[test]
    fn functions_only_updates_each_function_from_the_stack() {
        let mut o = options("staging");
        o.functions_only = true;
        o.x86_64 = true;
        let steps = plan(&root(), &o).expect("plan");
        let text: Vec<String> = steps.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        assert!(text.contains("--x86-64"), "{text}");
        assert!(
            text.contains("--stack-name orders-staging --logical-resource-id ApiFunction"),
            "{text}"
        );
        assert!(text.contains("cargo lambda deploy --region us-east-1 --binary-name fn-events <EventsFunction of orders-staging>"), "{text}");
        assert!(!text.contains("sam deploy"), "{text}");
    }

    #[test]
    fn flags_parse_and_mistakes_are_named() {
        let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse(&args(&["--stage", "dev", "--dry-run"])).expect("ok"),
            Some(DeployOptions {
                stage: "dev".into(),
                functions_only: false,
                x86_64: false,
                dry_run: true,
                build_only: false,
                prebuilt: None,
                no_confirm_changeset: false,
            })
        );
        assert!(
            parse(&args(&[
                "--stage",
                "dev",
                "--build-only",
                "--prebuilt",
                "x"
            ]))
            .unwrap_err()
            .contains("give one")
        );
        assert_eq!(
            parse(&args(&["--dry-run"])).unwrap_err(),
            "--stage is required"
        );
        assert!(
            parse(&args(&["--stage", "dev", "--force"]))
                .unwrap_err()
                .contains("--force")
        );
    }
}
