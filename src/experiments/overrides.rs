//! Any field of a configuration set from text, in the spirit of nanoGPT's
//! configurator: `key=value` assignments (`cb ... --set epochs=3`) and
//! files of settings (`--config FILE`, JSON or TOML), applied on top of a
//! preset. Keys are the configuration's JSON keys (the ones a recorded
//! run's `config` shows), dotted for nested fields and list items
//! (`nets.0.width=25`).
//!
//! A value is read as JSON where it parses (`3`, `1e-3`, `null`, `true`,
//! `[10, 25]`, `{"kind": "fc", "width": 10, "depth": 50}`), else as a
//! string (`dataset=cifar10`); `none` is `null` (an optional field unset).
//! A list may also be given comma-separated (`depths=10,30,120`).
//!
//! Every assignment is checked when it is made, by reading the whole
//! configuration back: an unknown key, or a value the field does not
//! take, is a one-line error naming the key, and the configuration is
//! left as it was.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// `config` with every `key=value` of `assignments` applied, in order.
pub fn set_all<C: Serialize + DeserializeOwned>(config: &C, assignments: &[String]) -> Result<C> {
    let mut value = serde_json::to_value(config).context("a configuration serialises")?;
    for a in assignments {
        let (key, text) = a
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {a:?}: expected KEY=VALUE, e.g. epochs=3"))?;
        let key = key.trim();
        assign::<C>(&mut value, key, |old| parse(text.trim(), old))
            .map_err(|e| anyhow!("--set {key}={}: {e}", text.trim()))?;
    }
    Ok(serde_json::from_value(value)?)
}

/// `config` with the settings of `path` applied: a JSON or TOML object
/// (`.toml` files are TOML, everything else JSON) of keys to values;
/// nested objects set nested fields key by key, anything else replaces the
/// field.
pub fn set_from_file<C: Serialize + DeserializeOwned>(config: &C, path: &Path) -> Result<C> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}: cannot read", path.display()))?;
    let settings: Value = if path.extension().is_some_and(|e| e == "toml") {
        let t: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow!("--config {}: not TOML ({})", path.display(), one_line(&e)))?;
        serde_json::to_value(t)?
    } else {
        serde_json::from_str(&text)
            .map_err(|e| anyhow!("--config {}: not JSON ({e})", path.display()))?
    };
    let Value::Object(_) = settings else {
        bail!(
            "--config {}: expected an object of settings, e.g. {{\"epochs\": 3}}",
            path.display()
        );
    };
    let mut leaves = vec![];
    flatten("", &settings, &mut leaves);
    let mut value = serde_json::to_value(config)?;
    for (key, new) in leaves {
        assign::<C>(&mut value, &key, |_| new.clone())
            .map_err(|e| anyhow!("--config {}: {key}: {e}", path.display()))?;
    }
    Ok(serde_json::from_value(value)?)
}

/// The dotted keys and values of `v`'s leaves (a non-empty object is not a
/// leaf: its keys are set one by one).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

/// Sets the field at dotted `key` of `root` to `new(old value)` if the
/// result still reads as a `C`; otherwise leaves `root` as it was and says
/// why.
fn assign<C: DeserializeOwned>(
    root: &mut Value,
    key: &str,
    new: impl FnOnce(&Value) -> Value,
) -> Result<()> {
    let mut candidate = root.clone();
    let mut at = &mut candidate;
    let mut path = String::new();
    for part in key.split('.') {
        let here = if path.is_empty() {
            "the configuration".to_string()
        } else {
            path.clone()
        };
        at = match at {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                map.get_mut(part).ok_or_else(|| {
                    anyhow!("unknown key {part:?} in {here} (keys: {})", keys.join(", "))
                })?
            }
            Value::Array(items) => {
                let n = items.len();
                part.parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .ok_or_else(|| {
                        anyhow!("{here} is a list of {n}: {part:?} is not an index 0..{n}")
                    })?
            }
            _ => bail!("{here} has no fields ({part:?} is not one)"),
        };
        path = if path.is_empty() {
            part.to_string()
        } else {
            format!("{path}.{part}")
        };
    }
    let old = at.clone();
    *at = new(&old);
    serde_json::from_value::<C>(candidate.clone())
        .map_err(|e| anyhow!("{} (now {old})", one_line(&e)))?;
    *root = candidate;
    Ok(())
}

/// `text` as a value for a field whose value is now `old` (see the module docs).
fn parse(text: &str, old: &Value) -> Value {
    if text.eq_ignore_ascii_case("none") {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if old.is_array() == v.is_array() || !old.is_array() {
            return v;
        }
    }
    if old.is_array() {
        let items = text.split(',').map(str::trim).filter(|s| !s.is_empty());
        return Value::Array(items.map(|s| parse(s, &Value::Null)).collect());
    }
    Value::String(text.to_string())
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: usize,
        b: Option<f64>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Mnist,
        Cifar10,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Cfg {
        kind: Kind,
        depths: Vec<usize>,
        pairs: Vec<(usize, usize)>,
        inner: Inner,
        limit: Option<usize>,
    }

    fn cfg() -> Cfg {
        Cfg {
            kind: Kind::Mnist,
            depths: vec![1, 2],
            pairs: vec![(1, 2)],
            inner: Inner { a: 1, b: None },
            limit: Some(5),
        }
    }

    fn set(args: &[&str]) -> Result<Cfg> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        set_all(&cfg(), &args)
    }

    #[test]
    fn values_are_json_strings_or_comma_lists() {
        let c = set(&[
            "kind=cifar10",
            "depths=10,30, 120",
            "pairs=[[3,4],[5,6]]",
            "inner.a=7",
            "inner.b=1e-3",
            "limit=none",
        ])
        .unwrap();
        assert_eq!(c.kind, Kind::Cifar10);
        assert_eq!(c.depths, [10, 30, 120]);
        assert_eq!(c.pairs, [(3, 4), (5, 6)]);
        assert_eq!(
            c.inner,
            Inner {
                a: 7,
                b: Some(1e-3)
            }
        );
        assert_eq!(c.limit, None);
        assert_eq!(set(&["depths=[4]", "depths.0=9"]).unwrap().depths, [9]);
        assert_eq!(set(&["depths=8"]).unwrap().depths, [8]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_in_one_line() {
        for (args, want) in [
            (&["epochs=3"][..], "unknown key \"epochs\""),
            (&["inner.c=1"], "unknown key \"c\" in inner (keys: a, b)"),
            (&["depths.5=1"], "depths is a list of 2"),
            (&["limit.x=1"], "limit has no fields"),
            (
                &["kind=imagenet"],
                "--set kind=imagenet: unknown variant `imagenet`",
            ),
            (
                &["inner.a=abc"],
                "--set inner.a=abc: invalid type: string \"abc\", expected usize",
            ),
            (&["inner.a=-1"], "--set inner.a=-1"),
            (&["depths=a,b"], "--set depths=a,b"),
            (&["epochs"], "expected KEY=VALUE"),
        ] {
            let e = set(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = set(&["kind=imagenet"]).unwrap_err().to_string();
        assert!(e.contains("mnist") && e.contains("cifar10"), "{e}");
    }

    #[test]
    fn files_set_keys_as_json_or_toml() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("c.json");
        std::fs::write(&json, r#"{"depths": [3], "inner": {"b": 0.5}}"#).unwrap();
        let c = set_from_file(&cfg(), &json).unwrap();
        assert_eq!((c.depths, c.inner), (vec![3], Inner { a: 1, b: Some(0.5) }));
        let toml = dir.path().join("c.toml");
        std::fs::write(&toml, "kind = \"cifar10\"\n[inner]\na = 4\n").unwrap();
        let c = set_from_file(&cfg(), &toml).unwrap();
        assert_eq!(
            (c.kind, c.inner.a, c.depths),
            (Kind::Cifar10, 4, vec![1, 2])
        );
        for (text, name, want) in [
            (
                "{\"inner\": {\"z\": 1}}",
                "u.json",
                "inner.z: unknown key \"z\"",
            ),
            ("[1]", "l.json", "expected an object"),
            ("{", "b.json", "not JSON"),
            ("a = ", "b.toml", "not TOML"),
            ("limit = \"x\"", "s.toml", "limit: invalid type"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            let e = set_from_file(&cfg(), &p).unwrap_err().to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{text}: {e}");
        }
        let e = set_from_file(&cfg(), &dir.path().join("none.json")).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
