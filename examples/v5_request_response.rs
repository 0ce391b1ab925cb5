//! MQTT 5 request/response: a request carries a Response Topic and Correlation Data; the
//! responder publishes its answer to that topic with the same Correlation Data, and the
//! requester matches answers to requests by it.
//!
//! One task answers requests on `pigeon/rr/requests` (it squares numbers); the requester sends
//! two and awaits each matching response, then both disconnect.
//!
//! ```text
//! cargo run --example v5_request_response     # MQTT_URL overrides mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use pigeon_mqtt::packet::{MqttString, Property};
use pigeon_mqtt::{Client, ConnectOptions, Message, Messages, ProtocolLevel, QoS};

type Error = Box<dyn std::error::Error + Send + Sync>;

const REQUESTS: &str = "pigeon/rr/requests";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    // Response Topic and Correlation Data are MQTT 5 properties.
    let opts = ConnectOptions::from_url(&url)?.protocol(ProtocolLevel::V5);

    // The responder: answers each request on its Response Topic, with its Correlation Data.
    let (responder, eventloop) = Client::new(opts.clone());
    let mut requests = eventloop.into_messages();
    responder.subscribe(REQUESTS, QoS::AtLeastOnce).await?;
    let answering = responder.clone();
    let service = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let props = request.props();
            let (Some(reply_to), Some(correlation)) =
                (props.response_topic(), props.correlation_data())
            else {
                eprintln!("Ignoring a request without Response Topic or Correlation Data");
                continue;
            };
            let n: i64 = String::from_utf8_lossy(request.payload()).trim().parse()?;
            let response = Message::new(reply_to.as_str(), (n * n).to_string())?
                .qos(QoS::AtLeastOnce)
                .property(Property::CorrelationData(correlation.clone()));
            answering.publish(response).await?;
        }
        Ok::<_, Error>(())
    });

    // The requester: its own response topic, then one request at a time.
    let (requester, eventloop) = Client::new(opts);
    let mut responses = eventloop.into_messages();
    let reply_to = "pigeon/rr/responses/requester-1";
    requester.subscribe(reply_to, QoS::AtLeastOnce).await?;
    for (id, n) in [("req-1", 7), ("req-2", 12)] {
        println!("Request {id}: square of {n}");
        let answer = request(&requester, &mut responses, reply_to, id, n).await?;
        println!(
            "Response {id}: {}",
            String::from_utf8_lossy(answer.payload())
        );
    }

    requester.disconnect().await?;
    responder.disconnect().await?;
    service.await??;
    Ok(())
}

/// Publishes a request and waits (at most 10 s) for the response with the same correlation data;
/// responses to other requests are skipped.
async fn request(
    client: &Client,
    responses: &mut Messages,
    reply_to: &str,
    correlation: &'static str,
    n: i64,
) -> Result<Message, Error> {
    let correlation = Bytes::from_static(correlation.as_bytes());
    let request = Message::new(REQUESTS, n.to_string())?
        .qos(QoS::AtLeastOnce)
        .property(Property::ResponseTopic(MqttString::try_from(reply_to)?))
        .property(Property::CorrelationData(correlation.clone()));
    client.publish(request).await?;
    let matching = async {
        while let Some(m) = responses.next().await {
            if m.props().correlation_data() == Some(&correlation) {
                return Some(m);
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), matching)
        .await?
        .ok_or_else(|| "the connection closed before the response arrived".into())
}
