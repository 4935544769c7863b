//! Secret values in the config: a literal, `{ env = "NAME" }` or `{ file = "PATH" }`.
//!
//! Resolution happens once at load time so a missing variable or unreadable
//! file is a startup error with the key path, never a failure on first use.
//! The resolved value is a [`SecretString`]: it prints as `[REDACTED]` and the
//! error messages here name the variable or file, never the value.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// How the config file spells a secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Literal(String),
    Env { env: String },
    File { file: PathBuf },
}

/// Written back (the Config page, `effective_toml`), a literal secret is
/// `"***"`; an environment variable or file keeps its name, which is not
/// the secret.
impl serde::Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Literal(_) => s.serialize_str("***"),
            Self::Env { env } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", env)?;
                m.end()
            }
            Self::File { file } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", file)?;
                m.end()
            }
        }
    }
}

/// Why a secret could not be read. It names the variable or the file,
/// never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvUnset(String),
    #[error("cannot read secret file {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("the secret is empty")]
    Empty,
}

impl SecretSource {
    /// Reads the secret.
    ///
    /// # Errors
    /// The variable or file, when it is unset, unreadable or empty.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>, base_dir: &Path) -> Result<SecretString, SecretError> {
        let value = match self {
            Self::Literal(s) => s.clone(),
            Self::Env { env: name } => env(name).ok_or_else(|| SecretError::EnvUnset(name.clone()))?,
            Self::File { file } => {
                let path = base_dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|source| SecretError::File { path, source })?;
                // Files written by `echo` or editors end with a newline that is not part of the secret.
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(SecretString::from(value))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn literal_env_and_file_secrets_resolve() {
        let dir = std::env::temp_dir().join(format!("botq-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("s.txt"), "from-file\n").unwrap();
        let env = |k: &str| (k == "S").then(|| "from-env".to_owned());
        let lit = SecretSource::Literal("lit".into()).resolve(&env, &dir).unwrap();
        let e = SecretSource::Env { env: "S".into() }.resolve(&env, &dir).unwrap();
        let f = SecretSource::File { file: "s.txt".into() }.resolve(&env, &dir).unwrap();
        assert_eq!(lit.expose_secret(), "lit");
        assert_eq!(e.expose_secret(), "from-env");
        assert_eq!(f.expose_secret(), "from-file");
    }

    #[test]
    fn missing_sources_are_named_without_values() {
        let err = SecretSource::Env { env: "NOPE".into() }.resolve(&no_env, Path::new(".")).unwrap_err();
        assert_eq!(err.to_string(), "environment variable NOPE is not set");
        let err = SecretSource::Literal(String::new()).resolve(&no_env, Path::new(".")).unwrap_err();
        assert_eq!(err.to_string(), "the secret is empty");
    }
}
