//! How `pigeon sub` prints a message: the payload, `topic payload` (`-v`), or a JSON line
//! (`--json`) with every field and property.

use std::io::Write;
use std::time::SystemTime;

use pigeon_mqtt::packet::Property;
use pigeon_mqtt::Message;
use serde_json::{json, Map, Value};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The payload as it is.
    Payload,
    /// `topic payload`.
    Verbose,
    /// One JSON object per message.
    Json,
}

/// Writes messages to a sink (stdout), flushing each one so that a pipe sees it at once.
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    end_of_line: bool,
}

impl<W: Write> Printer<W> {
    /// A printer; `end_of_line` is false with `-N`.
    pub fn new(out: W, format: Format, end_of_line: bool) -> Printer<W> {
        Printer {
            out,
            format,
            end_of_line,
        }
    }

    /// Prints one message.
    pub fn print(&mut self, m: &Message) -> std::io::Result<()> {
        match self.format {
            Format::Payload => self.out.write_all(m.payload())?,
            Format::Verbose => {
                self.out.write_all(m.topic().as_bytes())?;
                self.out.write_all(b" ")?;
                self.out.write_all(m.payload())?;
            }
            Format::Json => {
                serde_json::to_writer(&mut self.out, &message_json(m, SystemTime::now()))?
            }
        }
        if self.end_of_line {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}

/// A message as JSON, with mosquitto_sub's `%j` keys (`tst`, `topic`, `qos`, `retain`,
/// `payloadlen`, `properties`, `payload`) plus `dup`. A payload that is not UTF-8 is given as
/// `payload-hex`; user properties are `[key, value]` pairs in the order received (keys may
/// repeat).
pub fn message_json(m: &Message, received: SystemTime) -> Value {
    let mut obj = Map::new();
    obj.insert(
        "tst".into(),
        Value::String(humantime::format_rfc3339_micros(received).to_string()),
    );
    obj.insert("topic".into(), Value::String(m.topic().to_owned()));
    obj.insert("qos".into(), json!(m.qos_level() as u8));
    obj.insert("retain".into(), json!(u8::from(m.is_retained())));
    obj.insert("dup".into(), json!(u8::from(m.is_dup())));
    obj.insert("payloadlen".into(), json!(m.payload().len()));
    let props = properties_json(m);
    if !props.is_empty() {
        obj.insert("properties".into(), Value::Object(props));
    }
    insert_bytes(&mut obj, "payload", m.payload());
    Value::Object(obj)
}

fn properties_json(m: &Message) -> Map<String, Value> {
    let mut obj = Map::new();
    let mut users = Vec::new();
    let mut sub_ids = Vec::new();
    for p in m.props().iter() {
        match p {
            Property::PayloadFormatIndicator(v) => {
                obj.insert("payload-format-indicator".into(), json!(u8::from(*v)));
            }
            Property::MessageExpiryInterval(v) => {
                obj.insert("message-expiry-interval".into(), json!(v));
            }
            Property::ContentType(v) => {
                obj.insert("content-type".into(), json!(v.as_str()));
            }
            Property::ResponseTopic(v) => {
                obj.insert("response-topic".into(), json!(v.as_str()));
            }
            Property::CorrelationData(v) => insert_bytes(&mut obj, "correlation-data", v),
            Property::SubscriptionIdentifier(v) => sub_ids.push(json!(v.get())),
            Property::TopicAlias(v) => {
                obj.insert("topic-alias".into(), json!(v.get()));
            }
            Property::UserProperty(k, v) => users.push(json!([k.as_str(), v.as_str()])),
            other => {
                obj.insert(format!("{:?}", other.id()), json!(format!("{other:?}")));
            }
        }
    }
    if !sub_ids.is_empty() {
        obj.insert("subscription-identifier".into(), Value::Array(sub_ids));
    }
    if !users.is_empty() {
        obj.insert("user-properties".into(), Value::Array(users));
    }
    obj
}

/// `key: "text"` when the bytes are UTF-8, else `key-hex: "0a1b.."`.
fn insert_bytes(obj: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            obj.insert(key.to_owned(), Value::String(text.to_owned()));
        }
        Err(_) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            obj.insert(format!("{key}-hex"), Value::String(hex));
        }
    }
}

#[cfg(test)]
mod tests {
    use pigeon_mqtt::packet::{MqttString, Properties};
    use pigeon_mqtt::QoS;

    use super::*;

    fn printed(format: Format, eol: bool, m: &Message) -> Vec<u8> {
        let mut p = Printer::new(Vec::new(), format, eol);
        p.print(m).unwrap();
        p.out
    }

    #[test]
    fn payload_and_verbose() {
        let m = Message::new("a/b", "hi").unwrap();
        assert_eq!(printed(Format::Payload, true, &m), b"hi\n");
        assert_eq!(printed(Format::Payload, false, &m), b"hi");
        assert_eq!(printed(Format::Verbose, true, &m), b"a/b hi\n");
    }

    #[test]
    fn json_has_every_field_and_property() {
        let mut props = Properties::new();
        props.push_user_property("k", "v1");
        props.push_user_property("k", "v2");
        props.push(Property::ContentType(MqttString::from_static("text/plain")));
        props.push(Property::CorrelationData(vec![0xff, 0x00].into()));
        let m = Message::new("t", vec![0xc3, 0x28])
            .unwrap()
            .qos(QoS::AtLeastOnce)
            .retain(true)
            .properties(props);
        let line = printed(Format::Json, true, &m);
        assert_eq!(line.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["topic"], "t");
        assert_eq!(v["qos"], 1);
        assert_eq!(v["retain"], 1);
        assert_eq!(v["payloadlen"], 2);
        assert_eq!(v["payload-hex"], "c328");
        assert!(v.get("payload").is_none());
        assert_eq!(v["properties"]["content-type"], "text/plain");
        assert_eq!(v["properties"]["correlation-data-hex"], "ff00");
        assert_eq!(
            v["properties"]["user-properties"],
            json!([["k", "v1"], ["k", "v2"]])
        );
        assert!(v["tst"].as_str().unwrap().ends_with('Z'));
    }
}
