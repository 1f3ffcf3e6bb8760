//! Reading queries and writing answers, through hickory-proto (no hand-written parser).

use super::audit::Rcode;
use hickory_proto::op::{Edns, Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use std::net::Ipv4Addr;

/// The time-to-live of a synthetic answer: the mapping does not change while the sandbox runs.
pub const TTL: u32 = 300;
/// The UDP payload size the resolver advertises when the query uses EDNS.
const EDNS_PAYLOAD: u16 = 1232;

/// A query worth answering: a well-formed message with the query bit. Anything else (a
/// packet that does not parse, a response) is dropped without an answer.
pub fn parse_query(packet: &[u8]) -> Option<Message> {
    let msg = Message::from_vec(packet).ok()?;
    (msg.metadata.message_type == MessageType::Query).then_some(msg)
}

/// The answer to `query`: its question echoed, and one A record when `answer` is given.
pub fn reply(query: &Message, rcode: Rcode, answer: Option<Ipv4Addr>) -> Option<Vec<u8>> {
    let mut msg = Message::response(query.metadata.id, query.metadata.op_code);
    msg.metadata = Metadata::response_from_request(&query.metadata);
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = response_code(rcode);
    // A malformed question list is not echoed back.
    if rcode != Rcode::FormErr {
        msg.queries.clone_from(&query.queries);
    }
    if let (Some(addr), Some(q)) = (answer, query.queries.first()) {
        msg.answers
            .push(Record::from_rdata(q.name().clone(), TTL, RData::A(A(addr))));
    }
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        msg.edns = Some(edns);
    }
    msg.to_vec().ok()
}

fn response_code(rcode: Rcode) -> ResponseCode {
    match rcode {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::FormErr => ResponseCode::FormErr,
        Rcode::ServFail => ResponseCode::ServFail,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::NotImp => ResponseCode::NotImp,
        Rcode::Refused => ResponseCode::Refused,
    }
}

/// A record type as `dig` prints it: its mnemonic, or `TYPE<n>` (RFC 3597) for one
/// hickory-proto does not know.
pub fn type_name(t: RecordType) -> String {
    match t {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        known => known.to_string(),
    }
}
