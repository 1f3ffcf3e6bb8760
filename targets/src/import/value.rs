//! Reading a `serde_json::Value` with the JSON path of every value, for errors that say
//! where the input is wrong.

use super::ImportError;
use serde_json::{Map, Value};

/// A value and its path (`syscalls[3].names`).
#[derive(Debug, Clone, Copy)]
pub struct At<'a, 'p> {
    pub value: &'a Value,
    pub path: &'p str,
}

/// A JSON path one key deeper.
pub fn key(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// A JSON path one index deeper.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Parse a document.
pub fn parse(text: &str) -> Result<Value, ImportError> {
    serde_json::from_str(text).map_err(|e| {
        ImportError::invalid(
            format!("line {} column {}", e.line(), e.column()),
            format!("not JSON: {e}"),
        )
    })
}

impl<'a> At<'a, '_> {
    /// The value as an object.
    pub fn object(self) -> Result<&'a Map<String, Value>, ImportError> {
        self.value
            .as_object()
            .ok_or_else(|| ImportError::invalid(self.path, "expected an object"))
    }

    /// The value as a string.
    pub fn str(self) -> Result<&'a str, ImportError> {
        self.value
            .as_str()
            .ok_or_else(|| ImportError::invalid(self.path, "expected a string"))
    }

    /// The value as an unsigned 64-bit integer.
    pub fn u64(self) -> Result<u64, ImportError> {
        self.value
            .as_u64()
            .ok_or_else(|| ImportError::invalid(self.path, "expected an integer from 0 to 2^64-1"))
    }

    /// The items of an array with their paths (`null` is empty).
    pub fn items(self) -> Result<Vec<(String, &'a Value)>, ImportError> {
        match self.value {
            Value::Null => Ok(Vec::new()),
            Value::Array(a) => Ok(a
                .iter()
                .enumerate()
                .map(|(i, v)| (index(self.path, i), v))
                .collect()),
            _ => Err(ImportError::invalid(self.path, "expected an array")),
        }
    }

    /// An array of strings (`null` is empty).
    pub fn strings(self) -> Result<Vec<String>, ImportError> {
        self.items()?
            .into_iter()
            .map(|(p, v)| At { value: v, path: &p }.str().map(str::to_string))
            .collect()
    }
}

/// A field of an object, `None` when absent or `null`.
pub fn field<'a>(obj: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    obj.get(k).filter(|v| !v.is_null())
}
