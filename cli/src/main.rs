//! `edgeward`: the developer CLI for the edgeward gateway. A small test PKI (`ca`, `cert`), minting of
//! access tokens and DPoP proofs (`token`, `dpop`), offline verification with the gateway's own core
//! (`inspect`), configuration checks (`config check`) and the check of the Rego policies compiled in
//! at build time (`policy check`, feature `policy`). See `cli/README.md`.
//!
//! Exit codes: 0 success (or `VALID`), 1 failure (or `INVALID`), 2 usage error.
#![forbid(unsafe_code)]

mod config_check;
mod dpop;
mod files;
mod inspect;
mod keys;
mod pki;
mod spin_manifest;
mod token;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command stopped. Usage errors (bad flags, unreadable inputs) exit 2, failures exit 1.
#[derive(Debug)]
pub enum Failure {
    /// The command was given something it cannot use.
    Usage(String),
    /// The command ran and the answer is no (e.g. an invalid token or configuration).
    Failed(String),
}

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// Shorthand for a failure.
pub fn failed(message: impl Into<String>) -> Failure {
    Failure::Failed(message.into())
}

/// The result of a command.
pub type Result<T> = std::result::Result<T, Failure>;

#[derive(Parser)]
#[command(
    name = "edgeward",
    version,
    about = "edgeward developer CLI: test PKI, tokens, DPoP proofs, offline inspection, config checks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Certificate authority for x5c tokens.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Leaf certificates for JWT signing.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// DPoP keys and proofs (RFC 9449).
    #[command(subcommand)]
    Dpop(DpopCommand),
    /// Decode a token and verify it offline with the gateway core.
    Inspect(inspect::InspectArgs),
    /// Gateway configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Rego policies compiled in at build time (EDGEWARD_POLICY_DIR).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check that every policy compiled into this build (EDGEWARD_POLICY_DIR when it was built)
    /// compiles with its data.json; exit 1 naming the first that does not.
    Check,
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create a P-256 root CA (and optionally an intermediate).
    Init(pki::CaInitArgs),
}

#[derive(Subcommand)]
enum CertCommand {
    /// Issue a JWT signing certificate from a CA directory.
    Issue(pki::CertIssueArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint an ES256 access token (compact JWS) and print it.
    Mint(token::MintArgs),
}

#[derive(Subcommand)]
enum DpopCommand {
    /// Generate a P-256 DPoP key as a private JWK (mode 0600).
    Keygen(dpop::KeygenArgs),
    /// Create a DPoP proof JWT and print it.
    Proof(dpop::ProofArgs),
    /// Print the RFC 7638 SHA-256 thumbprint of a DPoP key (the `cnf.jkt` value).
    Thumbprint(KeyFile),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a gateway configuration file; errors are printed as FILE:LINE:COL.
    Check(ConfigFile),
    /// Check a configuration file as `check` does, then write it as Rust code to bake into a
    /// function (EDGEWARD_BAKED_CONFIG; `EDGEWARD_BAKE_CONFIG=FILE scripts/build RUNTIME` runs
    /// this).
    Bake(BakeArgs),
}

#[derive(Args)]
struct BakeArgs {
    /// The JSON configuration document.
    file: PathBuf,
    /// Where to write the Rust code.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct KeyFile {
    /// The JWK file.
    #[arg(long)]
    key: PathBuf,
}

#[derive(Args)]
struct ConfigFile {
    /// The JSON configuration document.
    file: PathBuf,
    /// Also check every host the configuration calls against this Spin manifest's
    /// `allowed_outbound_hosts` (spin.toml), by Spin's rules.
    #[arg(long)]
    spin_manifest: Option<PathBuf>,
    /// The manifest's component (default: its only one).
    #[arg(long, requires = "spin_manifest")]
    spin_component: Option<String>,
}

/// `policy check`: the builtin policies of this build compile (see `BuiltinPolicies::check`).
#[cfg(feature = "policy")]
fn policy_check() -> Result<()> {
    let policies = edgeward::BuiltinPolicies::BUILD;
    if policies.policies.is_empty() {
        return Err(failed(
            "no policy compiled in (EDGEWARD_POLICY_DIR was unset when this edgeward was built)",
        ));
    }
    policies.check().map_err(failed)?;
    println!("policies compiled in: {}: compile", policies.names());
    Ok(())
}

#[cfg(not(feature = "policy"))]
fn policy_check() -> Result<()> {
    Err(usage(
        "built without the policy feature (cargo run -p edgeward-cli --features policy)",
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ca(CaCommand::Init(args)) => pki::ca_init(&args),
        Command::Cert(CertCommand::Issue(args)) => pki::cert_issue(&args),
        Command::Token(TokenCommand::Mint(args)) => token::mint(&args),
        Command::Dpop(DpopCommand::Keygen(args)) => dpop::keygen(&args),
        Command::Dpop(DpopCommand::Proof(args)) => dpop::proof(&args),
        Command::Dpop(DpopCommand::Thumbprint(args)) => dpop::thumbprint(&args.key),
        Command::Inspect(args) => inspect::run(&args),
        Command::Config(ConfigCommand::Check(args)) => config_check::run(
            &args.file,
            args.spin_manifest.as_deref(),
            args.spin_component.as_deref(),
        ),
        Command::Config(ConfigCommand::Bake(args)) => config_check::bake(&args.file, &args.out),
        Command::Policy(PolicyCommand::Check) => policy_check(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(message)) => {
            if !message.is_empty() {
                eprintln!("edgeward: {message}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("edgeward: error: {message}");
            ExitCode::from(2)
        }
    }
}
