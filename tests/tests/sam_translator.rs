//! Cross-check of `AWS::Serverless::WebSocketApi`: for every such test template, the route table
//! the gateway reads directly equals the one it reads from AWS's own expansion of the template
//! (aws-sam-translator, pinned with SAM CLI in infra/requirements-tools.txt, run offline by
//! tests/sam-translator/translate.py).

use local_gateway::GatewayConfig;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn route_table(template: &Path) -> Value {
    let mut config = GatewayConfig::on_free_port();
    config.template = Some(template.to_path_buf());
    let mut summary = local_gateway::read_template(&config)
        .unwrap_or_else(|err| panic!("{}: {err}", template.display()));
    // What is compared: routes, authorizer, stage and selection expression.
    if let Value::Object(fields) = &mut summary {
        fields.remove("notEmulated");
        fields.remove("http");
    }
    summary
}

#[test]
fn serverless_websocket_apis_read_as_the_translator_expands_them() {
    let python = repo().join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "run `make .tools/venv/.installed` (SAM CLI and its translator)"
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("tests/templates")).unwrap() {
        let template = entry.unwrap().path();
        let name = template.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("websocket-api") || !name.ends_with(".yaml") {
            continue;
        }
        // Next to the original, so that relative CodeUris mean the same.
        let expanded = template.with_file_name(format!(
            ".{name}.expanded-{:016x}.json",
            rand::random::<u64>()
        ));
        let status = Command::new(&python)
            .arg(repo().join("tests/sam-translator/translate.py"))
            .arg(&template)
            .arg(&expanded)
            .status()
            .expect("run the translator");
        assert!(status.success(), "the translator failed on {name}");
        let direct = route_table(&template);
        let translated = route_table(&expanded);
        let _ = std::fs::remove_file(&expanded);
        assert_eq!(direct, translated, "{name}");
        assert!(
            direct["routes"].as_object().is_some_and(|r| !r.is_empty()),
            "{name}: {direct}"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the WebSocketApi test templates were not found"
    );
}
