//! Functions found as `sam build` finds them, on the fixture projects
//! (`tests/projects/`, each in the shape of a public Rust SAM project) and
//! on templates written for one case each.

use std::path::{Path, PathBuf};

use super::*;
use crate::model::{Context, Model};
use crate::template::Template;

fn projects() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/projects")
}

fn model_of(template: &Path) -> Model {
    let template = Template::load(template).expect("template");
    crate::model::load(
        &template,
        &Context {
            region: "us-east-1".to_owned(),
            stack: "local".to_owned(),
            ..Context::default()
        },
    )
    .expect("model")
}

fn discovered(template: &Path) -> Result<Model, DiscoveryError> {
    let mut model = model_of(template);
    Discovery::default().resolve_all(template, &mut model.functions)?;
    Ok(model)
}

/// A template of one function with `properties` and `metadata`, in a
/// folder of its own.
fn one_function(case: &str, properties: &str, metadata: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("discover-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("template.yaml");
    std::fs::write(
        &path,
        format!(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: provided.al2023\n{properties}\n    Metadata:\n{metadata}\n"
        ),
    )
    .expect("template");
    path
}

fn binaries(model: &Model) -> Vec<(String, String)> {
    model
        .functions
        .iter()
        .map(|f| (f.id.clone(), f.binary.clone()))
        .collect()
}

#[test]
fn a_package_with_one_binary_needs_no_binary_property() {
    let model = discovered(&projects().join("apigw-rest/template.yml")).expect("found");
    assert_eq!(
        binaries(&model),
        [("LambdaFunction".into(), "apigw-rest-handler".into())]
    );
    let Code::Cargo(cargo) = &model.functions[0].code else {
        panic!("a cargo binary: {:?}", model.functions[0].code);
    };
    assert_eq!(cargo.package, "sample-apigw-rest");
    assert!(
        cargo
            .debug_path("apigw-rest-handler")
            .ends_with("debug/apigw-rest-handler")
    );
}

#[test]
fn a_makefile_function_is_the_binary_its_code_folder_is_named_after() {
    let model = discovered(&projects().join("products/template.yaml")).expect("found");
    let mut found = binaries(&model);
    found.sort();
    assert_eq!(
        found,
        [
            ("DeleteProductFunction".into(), "products-delete".into()),
            ("GetProductFunction".into(), "products-get".into()),
            ("GetProductsFunction".into(), "products-get-all".into()),
            ("PutProductFunction".into(), "products-put".into()),
        ]
    );
}

#[test]
fn a_provided_function_without_a_build_method_is_its_folders_binary_or_its_bootstrap() {
    let model = discovered(&projects().join("bus-publisher/template.yaml")).expect("found");
    assert_eq!(
        binaries(&model),
        [("PublisherFunction".into(), "bus-publisher".into())]
    );
    // A bootstrap built before `sam build` runs as it is.
    let template = one_function("bootstrap", "      CodeUri: ./build/handler", "      {}");
    let folder = template.parent().expect("dir").join("build/handler");
    std::fs::create_dir_all(&folder).expect("dir");
    std::fs::write(folder.join("bootstrap"), "#!/bin/sh\n").expect("bootstrap");
    let model = discovered(&template).expect("found");
    assert_eq!(
        model.functions[0].code,
        Code::Bootstrap(folder.join("bootstrap"))
    );
}

#[test]
fn the_orders_template_names_its_binaries_in_a_virtual_workspace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = discovered(&root.join("infra/template.yaml")).expect("found");
    let mut found: Vec<String> = model.functions.iter().map(|f| f.binary.clone()).collect();
    found.sort();
    assert_eq!(found, ["fn-api", "fn-events"]);
}

#[test]
fn several_binaries_without_a_name_is_an_error_naming_them() {
    let code = projects().join("products");
    let template = one_function(
        "ambiguous",
        &format!("      CodeUri: {}", code.display()),
        "      BuildMethod: rust-cargolambda",
    );
    let err = discovered(&template).expect_err("ambiguous");
    let text = err.to_string();
    assert!(
        matches!(err, DiscoveryError::Ambiguous { count: 4, .. }),
        "{text}"
    );
    for binary in [
        "products-get-all",
        "products-get",
        "products-put",
        "products-delete",
    ] {
        assert!(text.contains(binary), "{text}");
    }
    assert!(text.starts_with("Fn: CodeUri "), "{text}");
}

#[test]
fn a_named_binary_the_package_lacks_and_a_folder_without_cargo_are_errors() {
    let code = projects().join("products");
    let template = one_function(
        "missing",
        &format!("      CodeUri: {}", code.display()),
        "      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: products-list",
    );
    let err = discovered(&template).expect_err("missing");
    assert!(
        matches!(err, DiscoveryError::NoSuchBinary { ref binary, .. } if binary == "products-list"),
        "{err}"
    );
    assert!(err.to_string().contains("products-get-all"), "{err}");
    let template = one_function(
        "no-cargo",
        "      CodeUri: ./nowhere",
        "      BuildMethod: rust-cargolambda",
    );
    let err = discovered(&template).expect_err("no manifest");
    assert!(matches!(err, DiscoveryError::NoManifest { .. }), "{err}");
    let template = one_function(
        "unknown-folder",
        &format!("      CodeUri: {}/build/not-a-binary", code.display()),
        "      BuildMethod: makefile",
    );
    let err = discovered(&template).expect_err("no such binary");
    assert!(matches!(err, DiscoveryError::NoBuiltBinary { .. }), "{err}");
}

#[test]
fn features_and_flags_reach_the_build_and_other_runtimes_are_named_not_served() {
    let template = one_function(
        "features",
        "      CodeUri: .",
        "      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: x\n        Features: tls,metrics\n        Flags:\n          - --no-default-features\n          - --features extra\n          - --arm64",
    );
    let model = model_of(&template);
    let build = &model.functions[0].build;
    assert_eq!(build.features, ["tls", "metrics", "extra"]);
    assert!(build.no_default_features);
    let dir = std::env::temp_dir().join(format!("discover-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("template.yaml");
    std::fs::write(
        &path,
        "Resources:\n  Py:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Events:\n        Get:\n          Type: Api\n          Properties: {Path: /py, Method: GET}\n  Image:\n    Type: AWS::Serverless::Function\n    Properties:\n      PackageType: Image\n",
    )
    .expect("template");
    let model = model_of(&path);
    assert!(model.functions.is_empty());
    assert!(model.routes.is_empty());
    assert!(
        model
            .warnings
            .iter()
            .any(|w| w.starts_with("Py: runtime python3.12 is not run locally")),
        "{:?}",
        model.warnings
    );
    assert!(
        model
            .warnings
            .iter()
            .any(|w| w.starts_with("Image: PackageType Image")),
        "{:?}",
        model.warnings
    );
}
