//! End-to-end tests of the `edgeward` binary: PKI → token → offline inspection with the core,
//! DPoP proofs, file modes, and config checks with line numbers.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{mint_x5c, ok, pki, run, AUD, ISS};
use der::{DecodePem, Encode};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;

fn decode_segment(token: &str, index: usize) -> Map<String, Value> {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(segment).unwrap()).unwrap()
}

fn inspect_x5c(dir: &std::path::Path, token: &str, anchors: &str) -> common::Run {
    run(
        dir,
        &[
            "inspect",
            token,
            "--trust-anchors",
            anchors,
            "--iss",
            ISS,
            "--aud",
            AUD,
        ],
    )
}

#[test]
fn minted_x5c_token_is_valid_with_and_without_intermediate() {
    for intermediate in [true, false] {
        let (_tmp, dir) = pki(intermediate);
        let token = mint_x5c(
            &dir,
            &["--sub", "alice", "--scope", "orders:read orders:write"],
        );
        let header = decode_segment(&token, 0);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "at+jwt");
        let x5c = header["x5c"].as_array().unwrap();
        assert_eq!(
            x5c.len(),
            if intermediate { 2 } else { 1 },
            "leaf (+ intermediate), no root"
        );
        let claims = decode_segment(&token, 1);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["scope"], "orders:read orders:write");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );

        let r = inspect_x5c(&dir, &token, "ca/trust-anchors.pem");
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(r.verdict().starts_with("VALID"), "{}", r.stdout);
        assert!(
            r.stdout.contains("\"sub\": \"alice\""),
            "pretty claims: {}",
            r.stdout
        );
    }
}

/// The token's `exp`, read from its payload (no verification: a test helper).
fn claim_exp(token: &str) -> u64 {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap();
    claims["exp"].as_u64().unwrap()
}

#[test]
fn expired_token_is_invalid_naming_exp() {
    let (_tmp, dir) = pki(true);
    let token = mint_x5c(&dir, &["--exp-in", "-3600"]);
    // Judged at exp + 3600 (`--now`), so a second that ticks between mint and inspect cannot
    // change the message.
    let exp = claim_exp(&token);
    let now = (exp + 3600).to_string();
    let mut args = vec![
        "inspect",
        token.as_str(),
        "--trust-anchors",
        "ca/trust-anchors.pem",
    ];
    args.extend(["--iss", ISS, "--aud", AUD, "--now", now.as_str()]);
    let r = run(&dir, &args);
    assert_eq!(r.code, 1);
    assert_eq!(r.verdict(), "INVALID: claim exp: expired 3600 s ago");
}

#[test]
fn token_from_another_ca_is_invalid_naming_the_chain() {
    let (_tmp, dir) = pki(true);
    ok(&dir, &["ca", "init", "--dir", "other"]);
    let token = mint_x5c(&dir, &[]);
    let r = inspect_x5c(&dir, &token, "other/trust-anchors.pem");
    assert_eq!(r.code, 1);
    assert!(
        r.verdict()
            .starts_with("INVALID: x5c chain: no path to a trust anchor"),
        "{}",
        r.verdict()
    );
}

#[test]
fn expired_certificate_and_wrong_issuer_are_named() {
    let (_tmp, dir) = pki(true);
    let token = mint_x5c(&dir, &[]);
    let far_future = "4000000000";
    let r = run(
        &dir,
        &[
            "inspect",
            &token,
            "--trust-anchors",
            "ca/trust-anchors.pem",
            "--now",
            far_future,
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.verdict()
            .starts_with("INVALID: x5c chain: certificate expired (CN=token signer"),
        "{}",
        r.verdict()
    );
    let r = run(
        &dir,
        &[
            "inspect",
            &token,
            "--trust-anchors",
            "ca/trust-anchors.pem",
            "--iss",
            "https://evil",
        ],
    );
    assert_eq!(
        r.verdict(),
        "INVALID: claim iss: \"https://login.example\" is not \"https://evil\""
    );
    let r = run(
        &dir,
        &[
            "inspect",
            &token,
            "--trust-anchors",
            "ca/trust-anchors.pem",
            "--aud",
            "other",
        ],
    );
    assert!(
        r.verdict().starts_with("INVALID: claim aud:"),
        "{}",
        r.verdict()
    );
    let r = run(
        &dir,
        &[
            "inspect",
            &token,
            "--trust-anchors",
            "ca/trust-anchors.pem",
            "--typ",
            "dpop+jwt",
        ],
    );
    assert_eq!(
        r.verdict(),
        "INVALID: header typ: \"at+jwt\" is not \"dpop+jwt\""
    );
    let r = run(
        &dir,
        &[
            "inspect",
            &token,
            "--trust-anchors",
            "ca/trust-anchors.pem",
            "--typ",
            "application/AT+JWT",
        ],
    );
    assert!(r.verdict().starts_with("VALID"), "{}", r.verdict());
}

#[test]
fn tampered_token_fails_the_signature() {
    let (_tmp, dir) = pki(false);
    let token = mint_x5c(&dir, &[]);
    let mut claims = decode_segment(&token, 1);
    claims.insert("sub".into(), "mallory".into());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        Base64UrlUnpadded::encode_string(&serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let r = inspect_x5c(&dir, &forged, "ca/trust-anchors.pem");
    assert_eq!(r.code, 1);
    assert!(
        r.verdict()
            .starts_with("INVALID: signature: does not verify"),
        "{}",
        r.verdict()
    );
    let r = inspect_x5c(&dir, "not.a.jws", "ca/trust-anchors.pem");
    assert_eq!(r.verdict(), "INVALID: jws: token is not a well-formed JWS");
}

#[test]
fn kid_token_verifies_against_a_jwks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["dpop", "keygen", "--out", "issuer.jwk"]);
    // The JWK Set is the public part of the key, with a kid.
    let mut jwk: Map<String, Value> =
        serde_json::from_str(&fs::read_to_string(dir.join("issuer.jwk")).unwrap()).unwrap();
    jwk.remove("d");
    jwk.insert("kid".into(), "k1".into());
    fs::write(
        dir.join("jwks.json"),
        serde_json::json!({ "keys": [jwk] }).to_string(),
    )
    .unwrap();
    let mint = |kid: &str| {
        let args = [
            "token",
            "mint",
            "--key",
            "issuer.jwk",
            "--kid",
            kid,
            "--iss",
            ISS,
            "--aud",
            AUD,
        ];
        ok(dir, &args).stdout.trim().to_owned()
    };
    let r = run(
        dir,
        &[
            "inspect",
            &mint("k1"),
            "--jwks",
            "jwks.json",
            "--iss",
            ISS,
            "--aud",
            AUD,
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.verdict().starts_with("VALID"));
    let r = run(dir, &["inspect", &mint("k2"), "--jwks", "jwks.json"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.verdict(),
        "INVALID: jwks: no usable ES256 key for kid \"k2\""
    );
}

#[test]
fn usage_errors_exit_2() {
    let (_tmp, dir) = pki(false);
    let token = mint_x5c(&dir, &[]);
    let r = run(&dir, &["inspect", &token]);
    assert_eq!(r.code, 2, "no key source");
    assert!(r.stderr.contains("--trust-anchors"), "{}", r.stderr);
    assert_eq!(run(&dir, &["inspect"]).code, 2);
    assert_eq!(
        run(&dir, &["inspect", &token, "--trust-anchors", "missing.pem"]).code,
        2
    );
    assert_eq!(
        run(
            &dir,
            &[
                "token",
                "mint",
                "--key",
                "ca/signing.key",
                "--iss",
                "i",
                "--aud",
                "a"
            ]
        )
        .code,
        2,
        "x5c or kid required"
    );
    // A chain whose leaf does not hold the key is refused rather than minting a token that
    // can never verify.
    let r = run(
        &dir,
        &[
            "token",
            "mint",
            "--key",
            "ca/root.key",
            "--x5c",
            "ca/chain.pem",
            "--iss",
            "i",
            "--aud",
            "a",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
}

#[test]
fn private_key_files_are_0600_and_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut printed = String::new();
    for args in [
        &["ca", "init", "--dir", "ca", "--intermediate"][..],
        &[
            "cert",
            "issue",
            "--ca-dir",
            "ca",
            "--name",
            "s",
            "--out-dir",
            "leaf",
        ][..],
        &["dpop", "keygen", "--out", "dpop.json"][..],
    ] {
        let r = ok(dir, args);
        printed.push_str(&r.stdout);
        printed.push_str(&r.stderr);
    }
    for key in [
        "ca/root.key",
        "ca/intermediate.key",
        "leaf/signing.key",
        "dpop.json",
    ] {
        let mode = fs::metadata(dir.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    assert!(!printed.contains("\"d\""), "{printed}");
    let d = serde_json::from_str::<Value>(&fs::read_to_string(dir.join("dpop.json")).unwrap())
        .unwrap()["d"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!printed.contains(&d));
}

#[test]
fn keys_are_not_overwritten_without_force() {
    let (_tmp, dir) = pki(true);
    let before = fs::read(dir.join("ca/root.key")).unwrap();
    let r = run(&dir, &["ca", "init", "--dir", "ca"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(fs::read(dir.join("ca/root.key")).unwrap(), before);
    assert_eq!(
        run(&dir, &["cert", "issue", "--ca-dir", "ca", "--name", "x"]).code,
        2
    );
    assert_eq!(
        run(&dir, &["dpop", "keygen", "--out", "ca/root.key"]).code,
        2
    );

    // A forced re-init without --intermediate drops the old intermediate, so the next leaf is
    // issued by the new root and validates against the new anchors.
    ok(&dir, &["ca", "init", "--dir", "ca", "--force"]);
    assert!(!dir.join("ca/intermediate.key").exists());
    ok(
        &dir,
        &["cert", "issue", "--ca-dir", "ca", "--name", "s2", "--force"],
    );
    let token = mint_x5c(&dir, &[]);
    assert!(inspect_x5c(&dir, &token, "ca/trust-anchors.pem")
        .verdict()
        .starts_with("VALID"));
}

#[test]
fn certificate_profiles() {
    let (_tmp, dir) = pki(true);
    ok(
        &dir,
        &[
            "cert",
            "issue",
            "--ca-dir",
            "ca",
            "--name",
            "pinned",
            "--eku",
            "1.3.6.1.4.1.99999.1",
            "--out-dir",
            "eku",
        ],
    );
    let load = |path: &str| Certificate::from_pem(fs::read(dir.join(path)).unwrap()).unwrap();
    let root = load("ca/root.pem");
    let inter = load("ca/intermediate.pem");
    let leaf = load("eku/signing.pem");

    let (critical, bc) = root
        .tbs_certificate
        .get::<BasicConstraints>()
        .unwrap()
        .unwrap();
    assert!(critical && bc.ca && bc.path_len_constraint.is_none());
    let (critical, ku) = root.tbs_certificate.get::<KeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);

    let (_, bc) = inter
        .tbs_certificate
        .get::<BasicConstraints>()
        .unwrap()
        .unwrap();
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));

    let (critical, bc) = leaf
        .tbs_certificate
        .get::<BasicConstraints>()
        .unwrap()
        .unwrap();
    assert!(critical && !bc.ca);
    let (critical, ku) = leaf.tbs_certificate.get::<KeyUsage>().unwrap().unwrap();
    assert!(critical);
    assert!(ku.digital_signature() && !ku.non_repudiation() && !ku.key_cert_sign());
    let (_, eku) = leaf
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .unwrap()
        .unwrap();
    assert_eq!(eku.0[0].to_string(), "1.3.6.1.4.1.99999.1");
    assert_eq!(leaf.tbs_certificate.issuer, inter.tbs_certificate.subject);
    let serial = leaf.tbs_certificate.serial_number.as_bytes();
    assert!(serial.len() <= 20 && serial[0] & 0x80 == 0);
    assert_ne!(serial, inter.tbs_certificate.serial_number.as_bytes());

    // The chain file is the x5c order: leaf, then the intermediate.
    let chain = Certificate::load_pem_chain(&fs::read(dir.join("eku/chain.pem")).unwrap()).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].to_der().unwrap(), leaf.to_der().unwrap());
    assert_eq!(chain[1].to_der().unwrap(), inter.to_der().unwrap());
}

#[test]
fn dpop_proof_is_well_formed_and_verifies_with_the_core() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["dpop", "keygen", "--out", "k.json"]);
    let jkt = ok(dir, &["dpop", "thumbprint", "--key", "k.json"])
        .stdout
        .trim()
        .to_owned();
    let token = ok(
        dir,
        &[
            "token",
            "mint",
            "--key",
            "k.json",
            "--kid",
            "x",
            "--iss",
            ISS,
            "--aud",
            AUD,
            "--dpop-key",
            "k.json",
        ],
    )
    .stdout
    .trim()
    .to_owned();
    assert_eq!(decode_segment(&token, 1)["cnf"]["jkt"], jkt.as_str());
    let with_jkt = ok(
        dir,
        &[
            "token", "mint", "--key", "k.json", "--kid", "x", "--iss", ISS, "--aud", AUD, "--jkt",
            "abc",
        ],
    );
    assert_eq!(
        decode_segment(with_jkt.stdout.trim(), 1)["cnf"]["jkt"],
        "abc"
    );

    let proof = ok(
        dir,
        &[
            "dpop",
            "proof",
            "--key",
            "k.json",
            "--htm",
            "POST",
            "--htu",
            "https://api.example/orders?x=1#frag",
            "--ath-token",
            &token,
            "--nonce",
            "n-1",
        ],
    )
    .stdout
    .trim()
    .to_owned();
    let jws = edgeward::jws::parse(&proof, 16384).unwrap();
    assert_eq!(jws.header.typ.as_deref(), Some("dpop+jwt"));
    let jwk = edgeward::jwk::Jwk::from_object(jws.header.jwk.as_ref().unwrap()).unwrap();
    assert!(!jwk.has_private_members(), "public part only");
    assert_eq!(jwk.thumbprint_sha256(), jkt);
    futures_executor::block_on(jws.verify(jwk.public_key(), &edgeward::crypto::RustCrypto))
        .unwrap();
    let claims = &jws.claims;
    assert_eq!(claims["htm"], "POST");
    assert_eq!(
        claims["htu"], "https://api.example/orders",
        "no query or fragment"
    );
    assert_eq!(claims["nonce"], "n-1");
    let ath = Base64UrlUnpadded::encode_string(&Sha256::digest(token.as_bytes()));
    assert_eq!(claims["ath"], ath.as_str());
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    let other = ok(
        dir,
        &[
            "dpop",
            "proof",
            "--key",
            "k.json",
            "--htm",
            "GET",
            "--htu",
            "https://a.example/",
        ],
    );
    let other = decode_segment(other.stdout.trim(), 1);
    assert_ne!(other["jti"], claims["jti"], "jti is random");
    assert!(other.get("ath").is_none());
}

const CONFIG: &str = r#"{
  "origin": "https://api.internal.example",
  "routes": [
    { "path": "/health", "anonymous": true },
    { "path": "/api/*", "methods": ["GET", "POST"] }
  ],
  "issuers": [
    { "issuer": "https://login.example", "audiences": ["https://api.example"],
      "algorithms": ["ES256",
                     "ES384"], "require_typ": "at+jwt", "x5c": {} }
  ]
}
"#;

#[test]
fn config_check_reports_ok_and_exact_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let check = |name: &str, text: &str| {
        fs::write(dir.join(name), text).unwrap();
        run(dir, &["config", "check", name])
    };
    let r = check("good.json", CONFIG);
    assert_eq!((r.code, r.stdout.as_str()), (0, "good.json: ok\n"));

    // A validation error names a field path: located by scanning the document.
    let r = check("alg.json", &CONFIG.replace("\"ES384\"", "\"HS256\""));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .starts_with("alg.json:10:22: issuers[0].algorithms[1]: must be one of"),
        "{}",
        r.stdout
    );
    let r = check("route.json", &CONFIG.replace("\"/api/*\"", "\"api\""));
    assert_eq!(
        r.stdout,
        "route.json:5:15: routes[1].path: must start with '/'\n"
    );
    // Type, unknown-field and syntax errors carry serde_json's own position.
    let r = check(
        "type.json",
        &CONFIG.replace("\"anonymous\": true", "\"anonymous\": \"yes\""),
    );
    assert!(
        r.stdout
            .starts_with("type.json:4:43: routes[0].anonymous: invalid type"),
        "{}",
        r.stdout
    );
    let r = check(
        "unknown.json",
        &CONFIG.replace("\"x5c\": {}", "\"x5c\": {}, \"typo\": 1"),
    );
    assert!(
        r.stdout
            .starts_with("unknown.json:10:73: issuers[0].typo: unknown field `typo`"),
        "{}",
        r.stdout
    );
    let r = check(
        "syntax.json",
        "{\n  \"origin\": \"http://o\",\n  \"routes\": [}\n",
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("syntax.json:3:14: "), "{}", r.stdout);
    // What follows the document is refused, as the functions refuse it.
    let r = check("trailing.json", &format!("{CONFIG} {{}}"));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("trailing characters"), "{}", r.stdout);
    // A section is an object, never an array of its fields.
    let r = check("array.json", &CONFIG.replace("\"x5c\": {}", "\"x5c\": []"));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("issuers[0].x5c: invalid type: sequence"),
        "{}",
        r.stdout
    );
    assert_eq!(run(dir, &["config", "check", "missing.json"]).code, 2);
}

#[test]
fn config_bake_checks_first_then_writes_private_rust_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("good.json"), CONFIG).unwrap();
    let r = run(dir, &["config", "bake", "good.json", "--out", "good.rs"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "good.json: baked into good.rs\n");
    let code = fs::read_to_string(dir.join("good.rs")).unwrap();
    // The document's text (for the run-time comparison) and the code that constructs it.
    assert!(code.contains(&format!("pub(super) const TEXT: &str = {CONFIG:?};")));
    assert!(code.contains("pub(super) fn document() -> crate::config::Config {"));
    assert!(code.contains("require_typ: Some(crate::bake::string(\"at+jwt\"))"));
    let mode = fs::metadata(dir.join("good.rs"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // A document the functions would refuse is reported as `config check` reports it; no file.
    fs::write(
        dir.join("alg.json"),
        CONFIG.replace("\"ES384\"", "\"HS256\""),
    )
    .unwrap();
    let r = run(dir, &["config", "bake", "alg.json", "--out", "alg.rs"]);
    let checked = run(dir, &["config", "check", "alg.json"]);
    assert_eq!((r.code, &r.stdout), (1, &checked.stdout));
    assert!(
        r.stdout.contains("issuers[0].algorithms[1]"),
        "{}",
        r.stdout
    );
    assert!(!dir.join("alg.rs").exists());
}

#[test]
fn config_check_names_every_host_the_spin_manifest_does_not_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml");
    // The repository's manifest allows http://127.0.0.1:* and https://*:*; `localhost` is another
    // host to Spin, and plain http to anything else is not allowed.
    let config = r#"{
  "origin": "http://localhost:8081",
  "routes": [{ "path": "/*", "origin_by_claim": { "claim": "r", "origins": { "eu": "http://127.0.0.1:9000" }, "default": "http://eu.internal" } }],
  "issuers": [
    { "issuer": "https://login.example", "audiences": ["a"], "jwks_uri": "https://login.example/jwks" },
    { "issuer": "http://127.0.0.1:7000", "audiences": ["a"], "jwks_uri": "http://localhost:7000/jwks" }
  ]
}
"#;
    fs::write(dir.join("c.json"), config).unwrap();
    let r = run(
        dir,
        &["config", "check", "c.json", "--spin-manifest", manifest],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(
        lines[0].starts_with("c.json:2:13: origin: http://localhost:8081 is not allowed by "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(
            r#"([component.edgeward] allowed_outbound_hosts = ["http://127.0.0.1:*", "https://*:*"]); Spin denies the request"#
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(
            "c.json:3:122: routes[0].origin_by_claim.default: http://eu.internal is not allowed"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]
            .starts_with("c.json:6:74: issuers[1].jwks_uri: http://localhost:7000 is not allowed"),
        "{}",
        lines[2]
    );

    // Every host allowed: ok. A variable in the manifest resolves like Spin resolves it.
    let allowed = config
        .replace("http://localhost:8081", "http://127.0.0.1:8081")
        .replace("http://eu.internal", "https://eu.internal")
        .replace("http://localhost:7000", "http://127.0.0.1:7000");
    fs::write(dir.join("ok.json"), allowed).unwrap();
    let r = run(
        dir,
        &["config", "check", "ok.json", "--spin-manifest", manifest],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.starts_with("ok.json: ok (every host allowed by "));

    // A manifest the CLI cannot read is a usage error; without --spin-manifest hosts are not checked.
    fs::write(
        dir.join("bad.toml"),
        "[component.gw]\nallowed_outbound_hosts = [\"localhost\"]\n",
    )
    .unwrap();
    let r = run(
        dir,
        &["config", "check", "c.json", "--spin-manifest", "bad.toml"],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not contain a scheme"),
        "{}",
        r.stderr
    );
    assert_eq!(run(dir, &["config", "check", "c.json"]).code, 0);
}
