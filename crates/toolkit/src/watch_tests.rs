//! What `--watch` takes for a change, and the flags its children get.

use super::*;

#[test]
fn children_get_every_flag_but_those_the_watcher_owns() {
    let args: Vec<String> = [
        "--watch",
        "--port",
        "3000",
        "--stage",
        "test",
        "--dynamodb",
        "local",
        "--binaries",
        "--lambda-port",
        "3001",
        "--no-build",
        "--env-vars",
        "env.json",
        "--host",
        "0.0.0.0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(
        child_args(&args),
        ["--stage", "test", "--binaries", "--env-vars", "env.json"]
    );
}

#[test]
fn sources_manifests_and_the_template_are_watched_and_target_and_ignored_files_are_not() {
    let root = std::env::temp_dir().join(format!("watch-scan-{}", crate::runtime::request_id()));
    let write = |path: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, "x").expect("write");
    };
    for file in [
        "Cargo.toml",
        "crates/a/src/lib.rs",
        "crates/a/Cargo.toml",
        "crates/a/README.md",
        "target/debug/build/x.rs",
        "generated/out.rs",
        ".hidden/secret.rs",
        "infra/template.yaml",
    ] {
        write(file);
    }
    std::fs::write(root.join(".gitignore"), "generated/\n").expect("gitignore");
    let template = root.join("infra/template.yaml");
    let before = scan(&root, &template);
    let mut seen: Vec<String> = before
        .keys()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under root")
                .display()
                .to_string()
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "Cargo.toml",
            "crates/a/Cargo.toml",
            "crates/a/src/lib.rs",
            "infra/template.yaml"
        ]
    );
    std::fs::write(root.join("crates/a/src/lib.rs"), "changed").expect("edit");
    std::fs::remove_file(root.join("crates/a/Cargo.toml")).expect("remove");
    write("crates/a/src/new.rs");
    write("target/debug/other.rs");
    let after = scan(&root, &template);
    assert_eq!(
        changed(&before, &after, &root),
        [
            "crates/a/Cargo.toml",
            "crates/a/src/lib.rs",
            "crates/a/src/new.rs"
        ]
    );
    let _ = std::fs::remove_dir_all(&root);
}
