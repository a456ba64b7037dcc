//! Compiles the trust anchors named by `EDGEWARD_TRUST_ANCHORS` (a PEM file of one or more
//! CERTIFICATE blocks) into the crate. A bad file fails the build with a message naming it.
//! Unset: no anchors are compiled in, and every x5c token is rejected (fail closed).

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
