//! Compiles the trust anchors named by `EDGEWARD_TRUST_ANCHORS` (a PEM file of one or more
//! CERTIFICATE blocks) into the crate. A bad file fails the build with a message naming it.
//! Unset: no anchors are compiled in, and every x5c token is rejected (fail closed).
//!
//! With the `policy` feature, also compiles in the Rego policies of the directory named by
//! `EDGEWARD_POLICY_DIR` (an absolute path): every `NAME.rego` directly in it is the builtin policy
//! `NAME` (`policy_builtin` in the configuration), and an optional `data.json` is the `data`
//! document of each. Not checked here: whether they compile (`scripts/build` runs `edgeward policy
//! check` on the same directory first; the gateway compiles them again when it loads).

use der::{Decode, DecodePem};
use std::{env, fmt::Write as _, fs, path::PathBuf};
use x509_cert::Certificate;

fn main() {
    println!("cargo:rerun-if-env-changed=EDGEWARD_TRUST_ANCHORS");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let ders = match env::var("EDGEWARD_TRUST_ANCHORS") {
        Ok(path) if !path.is_empty() => read_anchors(&path),
        _ => {
            println!(
                "cargo:warning=EDGEWARD_TRUST_ANCHORS is not set: no trust anchors compiled in, \
                 every x5c token will be rejected"
            );
            Vec::new()
        }
    };
    let mut code = String::from("/// DER certificates compiled in from EDGEWARD_TRUST_ANCHORS.\n");
    code.push_str("pub static TRUST_ANCHORS: &[&[u8]] = &[\n");
    for der in &ders {
        code.push_str("    &[");
        for byte in der {
            let _ = write!(code, "{byte},");
        }
        code.push_str("],\n");
    }
    code.push_str("];\n");
    fs::write(out.join("trust_anchors.rs"), code).expect("write trust_anchors.rs");
    fs::write(out.join("builtin_policies.rs"), builtin_policies())
        .expect("write builtin_policies.rs");
    baked_config(&out);
}

/// With `EDGEWARD_BAKED_CONFIG` (a file `edgeward config bake` wrote), the configuration baked into
/// the build: the file becomes `baked_config.rs` and `cfg(edgeward_baked)` is set. Not checked
/// here: the file is compiled, so code that is not a baked configuration fails the build.
fn baked_config(out: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=EDGEWARD_BAKED_CONFIG");
    println!("cargo:rustc-check-cfg=cfg(edgeward_baked)");
    let Some(path) = env::var("EDGEWARD_BAKED_CONFIG")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        return;
    };
    println!("cargo:rerun-if-changed={path}");
    let code =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("EDGEWARD_BAKED_CONFIG={path}: {e}"));
    fs::write(out.join("baked_config.rs"), code).expect("write baked_config.rs");
    println!("cargo:rustc-cfg=edgeward_baked");
}

/// The generated `POLICIES` (name, source) and `DATA` of `EDGEWARD_POLICY_DIR`; empty without the
/// `policy` feature or the variable.
fn builtin_policies() -> String {
    let mut policies = Vec::new();
    let mut data = None;
    if env::var_os("CARGO_FEATURE_POLICY").is_some() {
        println!("cargo:rerun-if-env-changed=EDGEWARD_POLICY_DIR");
        if let Some(dir) = env::var("EDGEWARD_POLICY_DIR")
            .ok()
            .filter(|d| !d.is_empty())
        {
            (policies, data) = read_policy_dir(&dir);
        }
    }
    let mut code =
        String::from("/// Rego policies compiled in from EDGEWARD_POLICY_DIR: (name, source).\n");
    code.push_str("pub static POLICIES: &[(&str, &str)] = &[\n");
    for (name, path) in &policies {
        let _ = writeln!(code, "    ({name:?}, include_str!({path:?})),");
    }
    code.push_str("];\n/// Its `data.json`, when it has one.\n");
    match data {
        Some(path) => {
            let _ = writeln!(
                code,
                "pub static DATA: Option<&str> = Some(include_str!({path:?}));"
            );
        }
        None => code.push_str("pub static DATA: Option<&str> = None;\n"),
    }
    code
}

/// `NAME.rego` files (name, absolute path; sorted) and `data.json` of `dir`; anything else in it
/// is ignored. A relative or unreadable directory, a name that is not letters, digits, `-` and `_`,
/// a file that is not UTF-8, or no `.rego` file fails the build.
fn read_policy_dir(dir: &str) -> (Vec<(String, String)>, Option<String>) {
    let fail = |why: &str| -> ! {
        eprintln!("error: EDGEWARD_POLICY_DIR={dir}: {why}");
        panic!("EDGEWARD_POLICY_DIR={dir}: {why}");
    };
    if !PathBuf::from(dir).is_absolute() {
        fail("must be an absolute path");
    }
    println!("cargo:rerun-if-changed={dir}");
    let entries = fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("cannot read it: {e}")));
    let mut policies = Vec::new();
    let mut data = None;
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| fail(&format!("cannot read it: {e}")))
            .path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_rego = file.ends_with(".rego");
        if !(is_rego || file == "data.json") || !path.is_file() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        if fs::read_to_string(&path).is_err() {
            fail(&format!("{file}: not a readable UTF-8 file"));
        }
        let text = path
            .to_str()
            .unwrap_or_else(|| fail(&format!("{file}: path is not UTF-8")));
        if !is_rego {
            data = Some(text.to_owned());
            continue;
        }
        let name = file.trim_end_matches(".rego");
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            fail(&format!(
                "{file}: a policy name is letters, digits, '-' and '_'"
            ));
        }
        policies.push((name.to_owned(), text.to_owned()));
    }
    if policies.is_empty() {
        fail("no NAME.rego file in it");
    }
    policies.sort();
    (policies, data)
}

fn read_anchors(path: &str) -> Vec<Vec<u8>> {
    println!("cargo:rerun-if-changed={path}");
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| fail(path, &format!("cannot read the file: {e}")));
    let blocks = pem_blocks(&text).unwrap_or_else(|e| fail(path, &e));
    if blocks.is_empty() {
        fail(path, "no '-----BEGIN CERTIFICATE-----' block found");
    }
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let cert = Certificate::from_pem(block.as_bytes())
                .unwrap_or_else(|e| fail(path, &format!("certificate #{}: {e}", i + 1)));
            let der = der::Encode::to_der(&cert)
                .unwrap_or_else(|e| fail(path, &format!("certificate #{}: {e}", i + 1)));
            // Round-trip: reject anything that is not canonical DER.
            Certificate::from_der(&der)
                .unwrap_or_else(|e| fail(path, &format!("certificate #{}: {e}", i + 1)));
            der
        })
        .collect()
}

/// Splits a PEM file into its CERTIFICATE blocks; other block types are an error.
fn pem_blocks(text: &str) -> Result<Vec<String>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if let Some(label) = line.strip_prefix("-----BEGIN ") {
            if label != "CERTIFICATE-----" {
                return Err(format!(
                    "line {}: expected only CERTIFICATE blocks, found '{line}'",
                    n + 1
                ));
            }
            current = Some(format!("{line}\n"));
        } else if line == "-----END CERTIFICATE-----" {
            let mut block = current
                .take()
                .ok_or_else(|| format!("line {}: END without BEGIN", n + 1))?;
            block.push_str(line);
            block.push('\n');
            blocks.push(block);
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    if current.is_some() {
        return Err("unterminated CERTIFICATE block".into());
    }
    Ok(blocks)
}

fn fail(path: &str, why: &str) -> ! {
    eprintln!("error: EDGEWARD_TRUST_ANCHORS={path}: {why}");
    panic!("EDGEWARD_TRUST_ANCHORS={path}: {why}");
}
