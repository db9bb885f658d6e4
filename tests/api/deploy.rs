//! The Kubernetes example (deploy/kubernetes): the configuration its ConfigMap carries is one
//! the connector accepts once the Secrets it names are mounted, and the Deployment probes
//! and mounts what that configuration expects.

use crate::cli::{run, stderr, stdout};
use crate::helpers::TestPki;

const CONFIGMAP: &str = include_str!("../../deploy/kubernetes/configmap.yaml");
const DEPLOYMENT: &str = include_str!("../../deploy/kubernetes/deployment.yaml");
const SECRET: &str = include_str!("../../deploy/kubernetes/secret.example.yaml");
const SECRETS_DIR: &str = "/run/secrets/concur-connector";
const TLS_DIR: &str = "/etc/concur-connector/tls";

/// The literal block under `config.toml: |`, its indentation removed.
fn config_toml() -> String {
    let mut lines = CONFIGMAP
        .lines()
        .skip_while(|l| l.trim() != "config.toml: |");
    lines.next().expect("the ConfigMap has a config.toml block");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The secret file names the configuration reads from the mounted Secret.
fn secret_files(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| l.split_once(&format!("\"{SECRETS_DIR}/")))
        .map(|(_, rest)| rest.trim_end_matches('"').to_owned())
        .collect()
}

#[tokio::test]
async fn the_configmaps_configuration_loads_with_the_secrets_it_names_mounted() {
    let config = config_toml();
    let files = secret_files(&config);
    assert_eq!(
        files,
        [
            "connector_password",
            "redis_ca.pem",
            "redis_password",
            "session_keys",
            "client_secret",
            "company_request_token"
        ]
    );
    // The example Secret provides every one of them.
    for file in &files {
        assert!(
            SECRET.contains(&format!("\n  {file}:")),
            "secret.example.yaml lacks {file}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::create_dir_all(&tls).unwrap();
    // A CA-signed RSA certificate, as Concur requires (the test CA is trusted by no one,
    // but check-config does not judge the chain; `doctor` does).
    let pki = TestPki::rsa("connector.example.com", |_| {});
    let redis_ca = TestPki::new("redis.example.internal").ca_pem;
    std::fs::write(secrets.join("redis_ca.pem"), &redis_ca).unwrap();
    let values = [
        ("connector_password", "a-long-connector-password\n"),
        ("redis_password", "an-acl-users-password\n"),
        (
            "session_keys",
            "k1 = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n",
        ),
        ("client_secret", "oauth-client-secret\n"),
        ("company_request_token", "company-request-token\n"),
    ];
    for (name, value) in values {
        std::fs::write(secrets.join(name), value).unwrap();
    }
    std::fs::write(tls.join("tls.crt"), &pki.leaf_pem).unwrap();
    std::fs::write(tls.join("tls.key"), &pki.key_pem).unwrap();
    let config = config
        .replace(SECRETS_DIR, &secrets.display().to_string())
        .replace(TLS_DIR, &tls.display().to_string());
    let path = dir.path().join("config.toml");
    std::fs::write(&path, &config).unwrap();

    let output = run(&["check-config", "--config", path.to_str().unwrap()], &[]).await;
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let printed = stdout(&output);
    for (_, value) in values {
        assert!(
            !printed.contains(value.trim()),
            "a secret was printed: {printed}"
        );
    }
}

#[tokio::test]
async fn the_deployment_probes_the_admin_port_the_configuration_binds_and_mounts_its_files() {
    let config = config_toml();
    let admin_port = config
        .lines()
        .skip_while(|l| l.trim() != "[admin]")
        .find_map(|l| l.trim().strip_prefix("bind = \"0.0.0.0:"))
        .map(|rest| rest.trim_end_matches('"').to_owned())
        .expect("[admin] bind on all interfaces");
    assert!(
        DEPLOYMENT.contains(&format!(
            "name: admin\n              containerPort: {admin_port}"
        )),
        "the admin container port is {admin_port}"
    );
    assert!(DEPLOYMENT.contains("path: /readyz\n              port: admin"));
    assert!(DEPLOYMENT.contains("path: /healthz\n              port: admin"));
    assert!(DEPLOYMENT.contains(&format!("mountPath: {SECRETS_DIR}")));
    assert!(DEPLOYMENT.contains(&format!("mountPath: {TLS_DIR}")));
    assert!(DEPLOYMENT.contains("mountPath: /etc/concur-connector/config.toml"));
    assert!(DEPLOYMENT.contains("replicas: 3"));
}
