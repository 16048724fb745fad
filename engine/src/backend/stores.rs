//! Building the [`ObjectStore`] behind a [`Location`], with credentials from where each cloud's
//! own tools look for them.
//!
//! - **S3**: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//!   `AWS_DEFAULT_REGION` and the other `AWS_*` variables `object_store` reads; otherwise the
//!   profile `AWS_PROFILE` (or `default`) of the shared files `~/.aws/credentials` and
//!   `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`); otherwise web identity
//!   (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, as on EKS), the ECS task role or the EC2
//!   instance profile. `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` switches an endpoint given in the
//!   location to virtual-hosted requests; the default there is path-style, as S3-compatible
//!   servers expect.
//! - **GCS**: `GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_SERVICE_ACCOUNT`, or the application
//!   default credentials of `gcloud auth application-default login`.
//! - **Azure**: `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY` or a SAS, or
//!   restic's `AZURE_ACCOUNT_NAME` / `AZURE_ACCOUNT_KEY`, or the other `AZURE_*` variables
//!   `object_store` reads (managed identity, workload identity, Azure CLI).
//!
//! `object_store`'s own retries are turned off: [`super::retry`] is the one policy for every
//! backend.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::Location;
use crate::error::{Error, ErrorKind, Result};

fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(15))
        // A whole request, body included: a 16 MiB pack needs under 5 minutes at 60 KB/s.
        .with_timeout(Duration::from_secs(300))
}

fn no_retries() -> RetryConfig {
    RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    }
}

fn config_error(location: &Location, e: object_store::Error) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("cannot use {location}: {e}"),
    )
    .with_source(e)
}

/// The store for a remote location, with its prefix applied.
pub fn remote(location: &Location) -> Result<Arc<dyn ObjectStore>> {
    let (store, prefix): (Arc<dyn ObjectStore>, &str) = match location {
        Location::S3 {
            endpoint,
            bucket,
            prefix,
        } => (
            Arc::new(
                s3(endpoint.as_deref(), bucket)
                    .build()
                    .map_err(|e| config_error(location, e))?,
            ),
            prefix,
        ),
        Location::Gcs { bucket, prefix } => {
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client_options(false))
                .with_retry(no_retries())
                .build()
                .map_err(|e| config_error(location, e))?;
            (Arc::new(store), prefix)
        }
        Location::Azure { container, prefix } => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_client_options(client_options(false))
                .with_retry(no_retries());
            if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() {
                if let Ok(account) = std::env::var("AZURE_ACCOUNT_NAME") {
                    builder = builder.with_account(account);
                }
            }
            if std::env::var_os("AZURE_STORAGE_ACCOUNT_KEY").is_none() {
                if let Ok(key) = std::env::var("AZURE_ACCOUNT_KEY") {
                    builder = builder.with_access_key(key);
                }
            }
            let store = builder.build().map_err(|e| config_error(location, e))?;
            (Arc::new(store), prefix)
        }
        Location::Local(_) | Location::Memory => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{location} is not an object store"),
            ))
        }
    };
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix.to_string()))
    })
}

fn s3(endpoint: Option<&str>, bucket: &str) -> AmazonS3Builder {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(client_options(
            endpoint.is_some_and(|e| e.starts_with("http://")),
        ))
        .with_retry(no_retries());
    if let Some(endpoint) = endpoint {
        let virtual_hosted = env("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_some_and(|v| v == "true");
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(virtual_hosted);
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    if env("AWS_ACCESS_KEY_ID").is_none() {
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".aws/credentials")));
        if let Some(creds) = file.and_then(|f| ini_section(&f, &profile)) {
            if let (Some(id), Some(secret)) = (
                creds.get("aws_access_key_id"),
                creds.get("aws_secret_access_key"),
            ) {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = creds.get("aws_session_token") {
                    builder = builder.with_token(token);
                }
            }
        }
    }
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        let file = env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".aws/config")));
        let section = if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        };
        if let Some(region) = file
            .and_then(|f| ini_section(&f, &section))
            .and_then(|c| c.get("region").cloned())
        {
            builder = builder.with_region(region);
        }
    }
    builder
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// The keys of section `[name]` of an INI file such as `~/.aws/credentials`, or `None` when the
/// file or the section is missing.
fn ini_section(path: &Path, name: &str) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_ini_section(&text, name)
}

fn parse_ini_section(text: &str, name: &str) -> Option<HashMap<String, String>> {
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if found.is_some() {
                break;
            }
            if header.trim() == name {
                found = Some(HashMap::new());
            }
            continue;
        }
        if let (Some(section), Some((k, v))) = (found.as_mut(), line.split_once('=')) {
            section.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_shared_files_are_read_by_profile() {
        let text = "\
# comment
[default]
aws_access_key_id = AKIDEFAULT
aws_secret_access_key=secret-default

[profile backup]
region = eu-west-1
[backup]
AWS_ACCESS_KEY_ID = AKIBACKUP
aws_secret_access_key = s2
";
        let default = parse_ini_section(text, "default").unwrap();
        assert_eq!(default["aws_access_key_id"], "AKIDEFAULT");
        assert_eq!(default["aws_secret_access_key"], "secret-default");
        let backup = parse_ini_section(text, "backup").unwrap();
        assert_eq!(backup["aws_access_key_id"], "AKIBACKUP");
        assert_eq!(backup.len(), 2);
        assert_eq!(
            parse_ini_section(text, "profile backup").unwrap()["region"],
            "eu-west-1"
        );
        assert!(parse_ini_section(text, "missing").is_none());
    }
}
