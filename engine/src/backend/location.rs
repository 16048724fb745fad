//! Repository locations as users write them (`-r/--repo`, `CAIRN_REPOSITORY`), in restic's forms
//! and as URLs.
//!
//! | written as | means |
//! |---|---|
//! | `/srv/repo`, `file:/srv/repo`, `file:///srv/repo` | a local directory |
//! | `s3://bucket/prefix` | AWS S3, region from the environment |
//! | `s3:https://host:port/bucket/prefix`, `s3:http://…` | an S3-compatible server (path-style) |
//! | `s3:host/bucket/prefix` | the same over https (restic's form) |
//! | `gs://bucket/prefix`, `gs:bucket:/prefix` | Google Cloud Storage |
//! | `azure://container/prefix`, `azure:container:/prefix` | Azure Blob Storage |
//! | `memory:` | in memory, for tests |

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};

/// Where a repository lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory on a local file system.
    Local(PathBuf),
    /// In memory (tests).
    Memory,
    /// An S3 bucket: AWS when `endpoint` is `None`, otherwise an S3-compatible server.
    S3 {
        /// The server's base URL (`https://minio.example:9000`).
        endpoint: Option<String>,
        /// The bucket.
        bucket: String,
        /// The repository's prefix in the bucket, without leading or trailing `/`; may be empty.
        prefix: String,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        /// The bucket.
        bucket: String,
        /// The repository's prefix in the bucket; may be empty.
        prefix: String,
    },
    /// An Azure Blob Storage container.
    Azure {
        /// The container.
        container: String,
        /// The repository's prefix in the container; may be empty.
        prefix: String,
    },
}

fn invalid(location: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("repository location {location:?}: {why}"),
    )
}

/// Splits `bucket/prefix/…` into the bucket and the prefix without surrounding slashes.
fn bucket_and_prefix(rest: &str) -> (String, String) {
    let rest = rest.trim_start_matches('/');
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (bucket.to_string(), prefix.trim_matches('/').to_string())
}

/// Splits restic's `bucket:/prefix` form.
fn colon_form(rest: &str) -> (String, String) {
    let (bucket, prefix) = rest.split_once(':').unwrap_or((rest, ""));
    (bucket.to_string(), prefix.trim_matches('/').to_string())
}

impl Location {
    /// Parses a location as the user wrote it; see the module documentation for the forms.
    pub fn parse(location: &str) -> Result<Location> {
        if location.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "no repository given: use -r/--repo or CAIRN_REPOSITORY",
            ));
        }
        let need = |name: &str, what: &str, form: &str| {
            if name.is_empty() {
                Err(invalid(location, &format!("no {what} given; write {form}")))
            } else {
                Ok(())
            }
        };
        if location == "memory:" {
            return Ok(Location::Memory);
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = bucket_and_prefix(rest);
            need(&bucket, "bucket", "s3://BUCKET[/PREFIX]")?;
            return Ok(Location::S3 {
                endpoint: None,
                bucket,
                prefix,
            });
        }
        if let Some(rest) = location.strip_prefix("s3:") {
            let form = "s3:https://HOST[:PORT]/BUCKET[/PREFIX]";
            let (scheme, rest) = match rest.split_once("://") {
                Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
                Some((other, _)) => {
                    return Err(invalid(
                        location,
                        &format!("unknown scheme {other:?}; write {form}"),
                    ))
                }
                None => ("https", rest),
            };
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            need(host, "server", form)?;
            let (bucket, prefix) = bucket_and_prefix(path);
            need(&bucket, "bucket", form)?;
            return Ok(Location::S3 {
                endpoint: Some(format!("{scheme}://{host}")),
                bucket,
                prefix,
            });
        }
        if let Some(rest) = location.strip_prefix("gs:") {
            let form = "gs://BUCKET[/PREFIX] or gs:BUCKET:/PREFIX";
            let (bucket, prefix) = match rest.strip_prefix("//") {
                Some(rest) => bucket_and_prefix(rest),
                None => colon_form(rest),
            };
            need(&bucket, "bucket", form)?;
            return Ok(Location::Gcs { bucket, prefix });
        }
        if let Some(rest) = location.strip_prefix("azure:") {
            let form = "azure://CONTAINER[/PREFIX] or azure:CONTAINER:/PREFIX";
            let (container, prefix) = match rest.strip_prefix("//") {
                Some(rest) => bucket_and_prefix(rest),
                None => colon_form(rest),
            };
            need(&container, "container", form)?;
            return Ok(Location::Azure { container, prefix });
        }
        let path = match location.strip_prefix("file:") {
            Some(rest) => rest.strip_prefix("//").unwrap_or(rest),
            None => location,
        };
        need(path, "path", "file:PATH or a plain path")?;
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(invalid(
                location,
                &format!(
                    "unknown scheme {scheme:?}: cairn stores in local directories (PATH, file:PATH), \
                     s3:, gs: and azure:"
                ),
            ));
        }
        Ok(Location::Local(PathBuf::from(path)))
    }
}

impl fmt::Display for Location {
    /// The location in its URL form, which [`Location::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_prefix = |f: &mut fmt::Formatter<'_>, base: String, prefix: &str| {
            if prefix.is_empty() {
                write!(f, "{base}")
            } else {
                write!(f, "{base}/{prefix}")
            }
        };
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::Memory => write!(f, "memory:"),
            Location::S3 {
                endpoint: None,
                bucket,
                prefix,
            } => with_prefix(f, format!("s3://{bucket}"), prefix),
            Location::S3 {
                endpoint: Some(endpoint),
                bucket,
                prefix,
            } => with_prefix(f, format!("s3:{endpoint}/{bucket}"), prefix),
            Location::Gcs { bucket, prefix } => with_prefix(f, format!("gs://{bucket}"), prefix),
            Location::Azure { container, prefix } => {
                with_prefix(f, format!("azure://{container}"), prefix)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, bucket: &str, prefix: &str) -> Location {
        Location::S3 {
            endpoint: endpoint.map(str::to_string),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn every_documented_form_parses_and_prints_back() {
        let cases = [
            ("/srv/repo", Location::Local("/srv/repo".into())),
            ("file:/srv/repo", Location::Local("/srv/repo".into())),
            ("file:///srv/repo", Location::Local("/srv/repo".into())),
            ("relative/repo", Location::Local("relative/repo".into())),
            ("memory:", Location::Memory),
            ("s3://bkt", s3(None, "bkt", "")),
            ("s3://bkt/a/b/", s3(None, "bkt", "a/b")),
            (
                "s3:http://127.0.0.1:9000/bkt/repo",
                s3(Some("http://127.0.0.1:9000"), "bkt", "repo"),
            ),
            (
                "s3:s3.example.com/bkt",
                s3(Some("https://s3.example.com"), "bkt", ""),
            ),
            (
                "gs:bkt:/backups/x",
                Location::Gcs {
                    bucket: "bkt".into(),
                    prefix: "backups/x".into(),
                },
            ),
            (
                "gs://bkt/backups",
                Location::Gcs {
                    bucket: "bkt".into(),
                    prefix: "backups".into(),
                },
            ),
            (
                "azure:ctr:/r",
                Location::Azure {
                    container: "ctr".into(),
                    prefix: "r".into(),
                },
            ),
            (
                "azure://ctr",
                Location::Azure {
                    container: "ctr".into(),
                    prefix: "".into(),
                },
            ),
        ];
        for (text, want) in cases {
            let got = Location::parse(text).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(Location::parse(&got.to_string()).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn incomplete_or_unknown_locations_say_what_to_write() {
        for (text, hint) in [
            ("", "-r/--repo"),
            ("s3://", "s3://BUCKET"),
            ("s3:http://host:9000", "BUCKET"),
            ("s3:ftp://host/bkt", "unknown scheme \"ftp\""),
            ("gs:", "gs://BUCKET"),
            ("azure://", "CONTAINER"),
            ("sftp://host/x", "unknown scheme \"sftp\""),
            ("file:", "file:PATH"),
        ] {
            let err = Location::parse(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text}");
            assert!(err.to_string().contains(hint), "{text}: {err}");
        }
    }
}
