//! Named profiles in a TOML file (`latchkey.toml` in the OS config directory), turned into
//! the core's [`Config`].
//!
//! ```toml
//! default_profile = "work"
//!
//! [profiles.work]
//! dialect = "crm"                       # crm | kommo | rfc6749
//! portal = "https://portal.crm.example"
//! api = "https://api.crm.example"
//! client_id = "my-app"
//! scope = "user-portal:user:*"
//! auth_params = { prompt = "consent" }  # extra authorization-request parameters
//! redirect_port = 8749                  # 0 or absent: an ephemeral port
//! client_secret_file = "/run/secrets/crm"  # or LATCHKEY_CLIENT_SECRET; never in this file
//! ```
//!
//! The file never holds a secret: there is no field for one (SEC-4). Unknown fields are
//! an error naming the field, so a typo does not silently fall back to a default.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use latchkey_core::authorize::RESERVED_PARAMS;
use latchkey_core::profile::{ClientAuth, KommoMode};
use latchkey_core::session::Config;
use latchkey_core::{Client as CoreClient, Profile};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::loopback::DEFAULT_CALLBACK_PATH;

/// The config file's name.
pub const CONFIG_FILE: &str = "latchkey.toml";
/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when no `--profile` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileSettings>,
}

/// One profile's settings. Every field is optional here so that flags and environment
/// variables can fill or override it ([`ProfileSettings::overlay`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// `crm`, `kommo` or `rfc6749`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// The client (integration) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scope to request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Extra authorization-request parameters by name (e.g. `prompt = "consent"`, which
    /// OpenID providers need before they issue a refresh token for `offline_access`).
    /// Sent in name order after the protocol parameters; a protocol parameter cannot be
    /// overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_params: Option<BTreeMap<String, String>>,
    /// The loopback redirect port (`0`: ephemeral). Kommo needs a fixed one (registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_port: Option<u16>,
    /// CRM: the client portal base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<String>,
    /// CRM: the API base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// RFC 6749: the authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// RFC 6749: the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// RFC 6749: the RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// RFC 6749: the RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_endpoint: Option<String>,
    /// RFC 6749: the issuer expected in callbacks (RFC 9207).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// RFC 6749: `none`, `basic` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<String>,
    /// Kommo: the consent page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_url: Option<String>,
    /// Kommo: extra `referer` suffixes allowed besides `.kommo.com` (e.g. `.amocrm.ru`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referer_suffixes: Option<Vec<String>>,
    /// Kommo: `popup` or `post_message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kommo_mode: Option<String>,
    /// A file holding the client secret (first line). Never the secret itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Seconds before expiry at which a refresh is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_skew: Option<u32>,
    /// Connect timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u64>,
    /// Read timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<u64>,
}

macro_rules! overlay_fields {
    ($base:ident, $over:ident; $($f:ident),*) => {
        $( if $over.$f.is_some() { $base.$f = $over.$f; } )*
    };
}

impl ProfileSettings {
    /// `self` with every field that `over` sets replaced (flags and env over the file).
    pub fn overlay(mut self, over: ProfileSettings) -> Self {
        overlay_fields!(self, over; dialect, client_id, scope, auth_params, redirect_port, portal, api,
            authorization_endpoint, token_endpoint, revocation_endpoint, device_endpoint,
            issuer, client_auth, consent_url, referer_suffixes, kommo_mode,
            client_secret_file, refresh_skew, connect_timeout, read_timeout);
        self
    }

    /// The redirect URI a sign-in on `port` uses: `http://127.0.0.1:{port}/callback`.
    pub fn redirect_uri_for(port: u16) -> String {
        format!("http://127.0.0.1:{port}{DEFAULT_CALLBACK_PATH}")
    }

    /// The redirect URI for commands that do not sign in (refresh, revoke): the configured
    /// port's, or `http://127.0.0.1/callback`. Only Kommo sends it again (on refresh),
    /// and Kommo needs a fixed, registered port.
    pub fn stored_redirect_uri(&self) -> String {
        match self.redirect_port {
            Some(p) if p != 0 => Self::redirect_uri_for(p),
            _ => format!("http://127.0.0.1{DEFAULT_CALLBACK_PATH}"),
        }
    }

    /// Builds the core configuration, with this redirect URI and client secret. Every
    /// missing or invalid field is an error naming the field, its flag and its env var.
    pub fn session_config(
        &self,
        profile_name: &str,
        redirect_uri: &str,
        secret: Option<&str>,
    ) -> Result<Config, Error> {
        let need = |v: &Option<String>, field: &str, flag: &str| -> Result<String, Error> {
            v.clone().ok_or_else(|| {
                Error::Config(format!(
                    "profile `{profile_name}` has no {field}: pass --{flag}, set LATCHKEY_{}, \
                     or add `{}` to the profile in {CONFIG_FILE}",
                    flag.to_ascii_uppercase().replace('-', "_"),
                    flag.replace('-', "_"),
                ))
            })
        };
        let bad = |field: &str, e: latchkey_core::Error| {
            Error::Config(format!("profile `{profile_name}`: {field}: {e}"))
        };
        let dialect = need(&self.dialect, "dialect", "dialect")?;
        if self
            .referer_suffixes
            .as_ref()
            .is_some_and(|s| !s.is_empty())
            && dialect != "kommo"
        {
            return Err(Error::Config(format!(
                "profile `{profile_name}`: referer suffixes are for the kommo dialect only"
            )));
        }
        let profile = match dialect.as_str() {
            "crm" => {
                let portal = need(&self.portal, "client portal URL", "portal")?;
                let api = need(&self.api, "API URL", "api")?;
                Profile::crm(&portal, &api).map_err(|e| bad("portal/api", e))?
            }
            "rfc6749" => {
                let auth = need(
                    &self.authorization_endpoint,
                    "authorization endpoint",
                    "authorization-endpoint",
                )?;
                let token = need(&self.token_endpoint, "token endpoint", "token-endpoint")?;
                let mut p = Profile::rfc6749(&auth, &token).map_err(|e| bad("endpoints", e))?;
                if let Some(r) = &self.revocation_endpoint {
                    p = p
                        .with_revocation(r)
                        .map_err(|e| bad("revocation-endpoint", e))?;
                }
                if let Some(d) = &self.device_endpoint {
                    p = p
                        .with_device_authorization(d)
                        .map_err(|e| bad("device-endpoint", e))?;
                }
                if let Some(i) = &self.issuer {
                    p = p.with_issuer(i).map_err(|e| bad("issuer", e))?;
                }
                let auth = match self.client_auth.as_deref() {
                    None if secret.is_none() => ClientAuth::None,
                    None | Some("basic") => ClientAuth::Basic,
                    Some("none") => ClientAuth::None,
                    Some("post") => ClientAuth::Post,
                    Some(other) => {
                        return Err(Error::Config(format!(
                            "profile `{profile_name}`: client_auth `{other}` is not one of \
                             none, basic, post"
                        )));
                    }
                };
                p.with_client_auth(auth)
                    .map_err(|e| bad("client-auth", e))?
            }
            "kommo" => {
                let mut p = Profile::kommo();
                if let Some(c) = &self.consent_url {
                    p = p.with_consent_url(c).map_err(|e| bad("consent-url", e))?;
                }
                for s in self.referer_suffixes.iter().flatten() {
                    p = p
                        .with_referer_suffix(s)
                        .map_err(|e| bad("referer-suffix", e))?;
                }
                match self.kommo_mode.as_deref() {
                    None | Some("popup") => p,
                    Some("post_message") => p
                        .with_kommo_mode(KommoMode::PostMessage)
                        .map_err(|e| bad("kommo-mode", e))?,
                    Some(other) => {
                        return Err(Error::Config(format!(
                            "profile `{profile_name}`: kommo_mode `{other}` is not popup or \
                             post_message"
                        )));
                    }
                }
            }
            other => {
                return Err(Error::Config(format!(
                    "profile `{profile_name}`: dialect `{other}` is not one of crm, kommo, \
                     rfc6749"
                )));
            }
        };
        let client_id = need(&self.client_id, "client id", "client-id")?;
        let mut client =
            CoreClient::new(&client_id, redirect_uri).map_err(|e| bad("client-id", e))?;
        if let Some(scope) = &self.scope {
            client = client.with_scope(scope).map_err(|e| bad("scope", e))?;
        }
        if let Some(secret) = secret {
            client = client
                .with_secret(secret)
                .map_err(|e| bad("client secret", e))?;
        }
        let mut config = Config::new(profile, client);
        for (name, value) in self.auth_params.iter().flatten() {
            config = config.with_extra_param(name, value).map_err(|e| {
                let why = if RESERVED_PARAMS.contains(&name.as_str()) {
                    "latchkey sets this protocol parameter itself".to_owned()
                } else {
                    e.to_string()
                };
                Error::Config(format!(
                    "profile `{profile_name}`: authorization parameter `{name}`: {why}"
                ))
            })?;
        }
        if let Some(skew) = self.refresh_skew {
            config = config.with_refresh_skew(skew);
        }
        Ok(config)
    }

    /// Parses one `NAME=VALUE` extra authorization parameter (`--auth-param`,
    /// `LATCHKEY_AUTH_PARAMS`). The value may be empty or contain `=`; the name may not be
    /// empty.
    pub fn parse_auth_param(arg: &str) -> Result<(String, String), String> {
        match arg.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.to_owned()))
            }
            _ => Err(format!("`{arg}` is not NAME=VALUE (e.g. prompt=consent)")),
        }
    }

    /// The client secret: `LATCHKEY_CLIENT_SECRET` (passed in as `env_secret`) or the first
    /// line of `client_secret_file` — never a flag value (SEC-4).
    pub fn client_secret(&self, env_secret: Option<String>) -> Result<Option<String>, Error> {
        if let Some(s) = env_secret.filter(|s| !s.is_empty()) {
            return Ok(Some(s));
        }
        let Some(path) = &self.client_secret_file else {
            return Ok(None);
        };
        let text = fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "could not read the client secret file {}: {e}",
                path.display()
            ))
        })?;
        let secret = text.lines().next().unwrap_or("").trim().to_owned();
        if secret.is_empty() {
            return Err(Error::Config(format!(
                "the client secret file {} is empty",
                path.display()
            )));
        }
        Ok(Some(secret))
    }
}

/// `latchkey.toml` in the OS config directory (e.g. `~/.config/latchkey/latchkey.toml`).
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "latchkey").map(|d| d.config_dir().join(CONFIG_FILE))
}

impl ConfigFile {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Error::Config(format!(
                    "could not read the config file {}: {e}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "the config file {} is not valid: {}",
                path.display(),
                e.message()
            ))
        })
    }

    /// Writes the file (creating its directory), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let err = |e: &dyn std::fmt::Display| {
            Error::Config(format!(
                "could not write the config file {}: {e}",
                path.display()
            ))
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(&e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| err(&e))?;
        let tmp = dir.join(format!(".{CONFIG_FILE}.{}.tmp", std::process::id()));
        fs::write(&tmp, text.as_bytes())
            .and_then(|()| fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                err(&e)
            })
    }

    /// The profile called `name`, if present.
    pub fn profile(&self, name: &str) -> Option<&ProfileSettings> {
        self.profiles.get(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // reason: tests
mod tests {
    use super::*;

    #[test]
    fn overlay_prefers_the_override() {
        let file = ProfileSettings {
            dialect: Some("crm".into()),
            client_id: Some("a".into()),
            ..Default::default()
        };
        let flags = ProfileSettings {
            client_id: Some("b".into()),
            ..Default::default()
        };
        let merged = file.overlay(flags);
        assert_eq!(merged.dialect.as_deref(), Some("crm"));
        assert_eq!(merged.client_id.as_deref(), Some("b"));
    }

    #[test]
    fn missing_fields_name_flag_and_env() {
        let p = ProfileSettings {
            dialect: Some("crm".into()),
            ..Default::default()
        };
        let e = p
            .session_config("work", "http://127.0.0.1/callback", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--portal"), "{e}");
        assert!(e.contains("LATCHKEY_PORTAL"), "{e}");
    }

    #[test]
    fn unknown_fields_and_secrets_are_rejected() {
        let e = toml::from_str::<ConfigFile>("[profiles.a]\nclient_secret = \"x\"\n").unwrap_err();
        assert!(e.message().contains("client_secret"), "{}", e.message());
    }

    #[test]
    fn round_trip() {
        let mut f = ConfigFile::default();
        f.profiles.insert(
            "w".into(),
            ProfileSettings {
                dialect: Some("rfc6749".into()),
                redirect_port: Some(8749),
                ..Default::default()
            },
        );
        let text = toml::to_string_pretty(&f).unwrap();
        assert_eq!(toml::from_str::<ConfigFile>(&text).unwrap(), f);
    }

    fn oidc(params: &[(&str, &str)]) -> ProfileSettings {
        ProfileSettings {
            dialect: Some("rfc6749".into()),
            client_id: Some("cli".into()),
            authorization_endpoint: Some("https://as.example/authorize".into()),
            token_endpoint: Some("https://as.example/token".into()),
            auth_params: Some(
                params
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn auth_params_reach_the_session_config() {
        let config = oidc(&[("prompt", "consent"), ("login_hint", "a@b")])
            .session_config("oidc", "http://127.0.0.1/callback", None)
            .unwrap();
        let params: Vec<_> = config.extra_params().collect();
        assert_eq!(params, [("login_hint", "a@b"), ("prompt", "consent")]);
    }

    #[test]
    fn a_protocol_auth_param_is_a_config_error_naming_it() {
        let e = oidc(&[("state", "x")])
            .session_config("oidc", "http://127.0.0.1/callback", None)
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("`state`"), "{e}");
        assert!(e.contains("`oidc`"), "{e}");
        assert!(e.contains("protocol parameter"), "{e}");
    }

    #[test]
    fn auth_param_parsing() {
        assert_eq!(
            ProfileSettings::parse_auth_param("prompt=consent"),
            Ok(("prompt".into(), "consent".into()))
        );
        assert_eq!(
            ProfileSettings::parse_auth_param("resource=https://x/?a=b"),
            Ok(("resource".into(), "https://x/?a=b".into()))
        );
        assert!(ProfileSettings::parse_auth_param("prompt").is_err());
        assert!(ProfileSettings::parse_auth_param("=consent").is_err());
    }

    #[test]
    fn auth_params_are_an_inline_table_in_the_file() {
        let text = "[profiles.oidc]\nauth_params = { prompt = \"consent\" }\n";
        let f = toml::from_str::<ConfigFile>(text).unwrap();
        let p = f.profile("oidc").unwrap();
        assert_eq!(
            p.auth_params
                .as_ref()
                .unwrap()
                .get("prompt")
                .map(String::as_str),
            Some("consent")
        );
        let saved = toml::to_string_pretty(&f).unwrap();
        assert_eq!(toml::from_str::<ConfigFile>(&saved).unwrap(), f);
    }
}
