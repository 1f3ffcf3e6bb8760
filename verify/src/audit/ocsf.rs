//! The OCSF (Open Cybersecurity Schema Framework, 1.x) classes the audit events follow,
//! where they fit: the keys that say which class and activity a record is, and whether it
//! was allowed.

use serde_json::{json, Map, Value};

/// An OCSF event class of the Network Activity category (4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub uid: u64,
    pub name: &'static str,
}

/// Network Activity: a connection the broker refused, or closed after relaying it.
pub const NETWORK: Class = Class {
    uid: 4001,
    name: "Network Activity",
};
/// HTTP Activity: a request to the HTTP proxy (`CONNECT` or an absolute-form request).
pub const HTTP: Class = Class {
    uid: 4002,
    name: "HTTP Activity",
};
/// DNS Activity: a query the resolver answered.
pub const DNS: Class = Class {
    uid: 4003,
    name: "DNS Activity",
};

/// Network Activity's activities the supervisor reports.
pub mod network {
    /// The connection was relayed and has ended.
    pub const CLOSE: (u64, &str) = (2, "Close");
    /// The upstream could not be dialled.
    pub const FAIL: (u64, &str) = (4, "Fail");
    /// The connection was refused.
    pub const REFUSE: (u64, &str) = (5, "Refuse");
}

/// HTTP Activity's activities the supervisor reports.
pub mod http {
    /// A `CONNECT` request.
    pub const CONNECT: (u64, &str) = (1, "Connect");
    /// Another request method.
    pub const OTHER: (u64, &str) = (99, "Other");
}

/// DNS Activity's activity: the resolver's response.
pub const DNS_RESPONSE: (u64, &str) = (2, "Response");

/// The keys naming `class` and `activity` (`class_uid`, `activity_id`, `type_uid` ...),
/// and the action (`Allowed` or `Denied`).
pub fn classify(class: Class, activity: (u64, &str), allowed: bool) -> Map<String, Value> {
    let (id, name) = activity;
    let mut m = Map::new();
    m.insert("category_uid".into(), json!(4));
    m.insert("class_uid".into(), json!(class.uid));
    m.insert("class_name".into(), json!(class.name));
    m.insert("activity_id".into(), json!(id));
    m.insert("activity_name".into(), json!(name));
    m.insert(
        "type_uid".into(),
        json!(class.uid.saturating_mul(100).saturating_add(id)),
    );
    let (action, action_id) = if allowed {
        ("Allowed", 1)
    } else {
        ("Denied", 2)
    };
    m.insert("action".into(), json!(action));
    m.insert("action_id".into(), json!(action_id));
    m
}
