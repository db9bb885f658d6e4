//! `[validation]` through the binary: `check-config` names a bad rule's key, and shows a
//! hook's secrets redacted.

use crate::cli::{run, stderr, stdout};
use crate::helpers::{TestPki, write_config};

#[tokio::test]
async fn check_config_names_bad_validation_rules_by_key() {
    let pki = TestPki::new("validation");
    let (_dir, path) = write_config(
        &pki,
        "[[validation.rules]]\nname = \"project\"\nkind = \"required\"\nfield = \"custom99\"\n\
         [[validation.rules]]\nname = \"limits\"\nkind = \"amount_limit\"\nlimits = { LUNCH = \"fifty\" }\n",
    );
    let output = run(&["check-config", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("validation.rules[0].field"), "{err}");
    assert!(err.contains("validation.rules[1].limits.LUNCH"), "{err}");
}

#[tokio::test]
async fn check_config_shows_a_hooks_credentials_redacted() {
    let pki = TestPki::new("validation");
    let (_dir, path) = write_config(
        &pki,
        "[[validation.rules]]\nname = \"erp\"\nkind = \"hook\"\nurl = \"https://erp.example/decide\"\n\
         username = \"concur\"\npassword = \"hook-pass-4711\"\n",
    );
    let output = run(&["check-config", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("name = \"erp\""), "{out}");
    assert!(
        !out.contains("hook-pass-4711") && !stderr(&output).contains("hook-pass-4711"),
        "{out}"
    );
}
