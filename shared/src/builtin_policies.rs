//! Rego policies compiled in at build time (`policy` builds): every `NAME.rego` of the directory
//! named by `EDGEWARD_POLICY_DIR`, and its optional `data.json` (see `build.rs`). A decision point
//! names one with `policy_builtin`; the gateway compiles it when it loads. Empty without the
//! `policy` feature or the variable.

include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));

/// The policies a gateway's `policy_builtin` fields can name: this build's
/// ([`BuiltinPolicies::BUILD`]), or others given to [`crate::Gateway::with_compiled_in`] (tests).
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPolicies {
    /// `(name, Rego source)`, sorted by name.
    pub policies: &'static [(&'static str, &'static str)],
    /// The `data` document (JSON text) of every one, if any.
    pub data: Option<&'static str>,
}

impl BuiltinPolicies {
    /// The policies compiled into this build.
    pub const BUILD: BuiltinPolicies = BuiltinPolicies {
        policies: POLICIES,
        data: DATA,
    };

    /// The source of the policy `name`.
    pub fn get(&self, name: &str) -> Option<&'static str> {
        self.policies
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, source)| *source)
    }

    /// The names, for messages: `a, b`, or `none`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.policies.iter().map(|(n, _)| *n).collect();
        match names.is_empty() {
            true => "none".into(),
            false => names.join(", "),
        }
    }
}

#[cfg(feature = "policy")]
impl BuiltinPolicies {
    /// The build's `data.json` as a document, if it has one; `Err` if it is not a JSON object
    /// (strictly: no duplicate members).
    pub fn data_document(&self) -> Result<Option<serde_json::Value>, &'static str> {
        self.data
            .map(|text| {
                crate::strict::object(text.as_bytes())
                    .map(serde_json::Value::Object)
                    .ok_or("not a JSON object")
            })
            .transpose()
    }

    /// Whether every policy compiles with the `data` (`edgeward policy check`, run by
    /// `scripts/build` before it builds a policy function): `Err` names the first one that does
    /// not, in regorus's words. See [`crate::rego::check`] for what is checked.
    pub fn check(&self) -> Result<(), String> {
        let data = self
            .data_document()
            .map_err(|message| format!("data.json: {message}"))?;
        for (name, source) in self.policies {
            let data: Vec<_> = data.iter().collect();
            let file = format!("{name}.rego");
            crate::rego::check(&file, source, &data).map_err(|e| match e {
                crate::rego::CompileError::Policy(m) | crate::rego::CompileError::Query(m) => {
                    format!("{file} does not compile: {m}")
                }
            })?;
        }
        Ok(())
    }
}
