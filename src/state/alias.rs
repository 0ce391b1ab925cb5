//! Topic aliases (5.0) [MQTT-3.3.2.3.4]: the server's aliases on incoming PUBLISH packets, and
//! opt-in automatic aliases on outgoing ones. Both maps live as long as one connection
//! [MQTT-3.3.2-7].
//!
//! ```text
//!   incoming: PUBLISH(topic, alias) ──▶ remember alias → topic
//!             PUBLISH("", alias)    ──▶ topic from the map, or UnknownTopicAlias (0x82)
//!   outgoing: first PUBLISH on a topic ──▶ topic + new alias (while below the server's maximum)
//!             later PUBLISH on it      ──▶ "" + alias
//! ```

use std::collections::HashMap;
use std::num::NonZeroU16;

use crate::codec;
use crate::error::ProtocolError;
use crate::packet::{Property, PropertyId, ProtocolLevel, Publish};
use crate::topic::TopicName;

/// The alias maps of one connection.
#[derive(Debug, Default)]
pub(super) struct Aliases {
    incoming: HashMap<u16, TopicName>,
    outgoing: HashMap<TopicName, u16>,
}

impl Aliases {
    /// A new connection starts with no aliases.
    pub(super) fn clear(&mut self) {
        self.incoming.clear();
        self.outgoing.clear();
    }

    /// Resolves the Topic Alias of an incoming PUBLISH against `max`, our Topic Alias Maximum.
    pub(super) fn resolve_incoming(
        &mut self,
        p: &mut Publish,
        max: u16,
    ) -> Result<(), ProtocolError> {
        let Some(alias) = p.properties.topic_alias() else {
            return Ok(());
        };
        let alias = alias.get();
        // [MQTT-3.3.2-11] the server must not send an alias above our Topic Alias Maximum.
        if alias > max {
            return Err(ProtocolError::TopicAliasTooLarge { alias, max });
        }
        if p.topic.is_empty() {
            p.topic = self
                .incoming
                .get(&alias)
                .cloned()
                .ok_or(ProtocolError::UnknownTopicAlias(alias))?;
        } else {
            self.incoming.insert(alias, p.topic.clone());
        }
        Ok(())
    }

    /// Outgoing topic aliases (opt-in, 5.0): the first message on a topic sets an alias within
    /// the server's Topic Alias Maximum [MQTT-3.2.2-17]; later ones send only the alias. A PUBLISH
    /// that already carries an alias is left alone.
    pub(super) fn apply_outgoing(
        &mut self,
        mut wire: Publish,
        level: ProtocolLevel,
        server_max: u16,
        max_packet_size: u32,
    ) -> Publish {
        if !level.is_v5() || server_max == 0 || wire.properties.topic_alias().is_some() {
            return wire;
        }
        if let Some(&alias) = self.outgoing.get(&wire.topic) {
            wire.topic = TopicName::empty_for_alias();
            if let Some(a) = NonZeroU16::new(alias) {
                wire.properties.push(Property::TopicAlias(a));
            }
        } else if self.outgoing.len() < usize::from(server_max) {
            let alias = self.outgoing.len() as u16 + 1;
            if let Some(a) = NonZeroU16::new(alias) {
                wire.properties.push(Property::TopicAlias(a));
            }
            // Setting an alias makes this PUBLISH longer: rather than exceed the server's
            // Maximum Packet Size [MQTT-3.2.2-15], send it without one.
            let fits =
                codec::publish_len(&wire, level).is_ok_and(|n| n <= max_packet_size as usize);
            if !fits {
                // There was no alias before this one (checked above).
                wire.properties.remove(PropertyId::TopicAlias);
                return wire;
            }
            self.outgoing.insert(wire.topic.clone(), alias);
        }
        wire
    }
}
