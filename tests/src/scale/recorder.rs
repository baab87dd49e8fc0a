//! Records every AWS request the functions make, for the capacity model (`make bench-scale`,
//! docs/benchmarks.md "Capacity model").
//!
//! A wrapper around the SDK's HTTP client (`aws_adapters::http_client::SdkHttpClient`, which
//! the functions set on their `SdkConfig`), not an SDK interceptor: an interceptor's hooks are
//! synchronous, and a write's before and after images need a read of the item around the
//! write. The wrapper sees the serialised request (operation, table, key, item, condition,
//! transaction, message bodies) and awaits, through a side channel that is not recorded, a
//! `DescribeTable` (once per table: its key schema and index projections, so a new index or a
//! re-keyed one is picked up without a change here) and a consistent `GetItem` of each written
//! item before and after the write: item bytes by DynamoDB's rules and each index's entry
//! (present? which partition key? did a projected attribute change?) on both sides. The side
//! requests go straight to the emulator (moto checks no signature; the original request's
//! `Authorization` header is passed on for its region). Requests are serialised while
//! recording, so the before image of one write is never another's after image.

use super::normalize::{pattern, resource};
use super::size::item_bytes;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One recorded request, in the segment (scenario step) that made it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub segment: String,
    pub entry: Value,
}

#[derive(Default)]
struct Log {
    segment: Option<String>,
    requests: Vec<Recorded>,
}

#[derive(Clone, Debug)]
struct Index {
    name: String,
    hash: String,
    range: Option<String>,
    /// `None`: every attribute (`ALL`); otherwise the projected non-key attributes.
    include: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
struct Schema {
    hash: String,
    range: Option<String>,
    indexes: Vec<Index>,
}

struct State {
    side: reqwest::Client,
    endpoint: String,
    serial: tokio::sync::Mutex<()>,
    log: Mutex<Log>,
    schemas: Mutex<HashMap<String, Arc<Schema>>>,
}

/// The recording HTTP client (see the module doc). Cheap to clone; clones share the log.
#[derive(Clone)]
pub struct Recorder {
    inner: aws_adapters::http_client::SdkHttpClient,
    state: Arc<State>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// A recorder in front of the emulator at `endpoint`.
    pub fn new(endpoint: &str) -> Recorder {
        Recorder {
            inner: aws_adapters::http_client::SdkHttpClient::new(),
            state: Arc::new(State {
                side: reqwest::Client::new(),
                endpoint: endpoint.trim_end_matches('/').to_string(),
                serial: tokio::sync::Mutex::new(()),
                log: Mutex::new(Log::default()),
                schemas: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `base` with this recorder as its HTTP client.
    pub fn sdk_config(&self, base: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        base.to_builder().http_client(self.clone()).build()
    }

    /// Requests from now on belong to `segment`; `None` stops recording.
    pub fn segment(&self, segment: Option<&str>) {
        let mut log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.segment = segment.map(str::to_string);
    }

    /// Everything recorded so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        let log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.requests.clone()
    }
}

impl HttpClient for Recorder {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            state: self.state.clone(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    state: Arc<State>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let state = self.state.clone();
        HttpConnectorFuture::new(async move { state.handle(request, inner).await })
    }
}

/// One item a write touches.
struct Target {
    action: &'static str,
    table: String,
    key: Option<Map<String, Value>>,
    item: Option<Map<String, Value>>,
    conditional: bool,
}

impl State {
    fn current_segment(&self) -> Option<String> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.segment.clone()
    }

    async fn handle(
        &self,
        request: HttpRequest,
        inner: SharedHttpConnector,
    ) -> Result<HttpResponse, ConnectorError> {
        let Some(segment) = self.current_segment() else {
            return inner.call(request).await;
        };
        let header = |name: &str| request.headers().get(name).map(str::to_string);
        let target = header("x-amz-target").unwrap_or_default();
        let auth = header("authorization");
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let (prefix, op) = target.split_once('.').unwrap_or(("", target.as_str()));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "secretsmanager" => "secretsmanager",
            _ => "other",
        };
        let op = op.to_string();
        let _serial = self.serial.lock().await;

        let mut targets = Vec::new();
        let mut befores = Vec::new();
        if service == "dynamodb" {
            targets = write_targets(&op, &body);
            for t in &mut targets {
                let schema = self.schema(&t.table, auth.as_deref()).await;
                if t.key.is_none() {
                    t.key = t.item.as_ref().and_then(|i| key_of(i, &schema));
                }
                befores.push(
                    self.get_item(&t.table, t.key.as_ref(), auth.as_deref())
                        .await,
                );
            }
        }

        let mut response = inner.call(request).await?;
        let bytes = collect(response.take_body()).await?;
        *response.body_mut() = SdkBody::from(bytes.clone());
        let status = response.status().as_u16();
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let outcome = if status < 400 {
            "ok".to_string()
        } else {
            reply["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .unwrap_or_else(|| format!("http_{status}"))
        };

        let mut entry = json!({"service": service, "op": op, "outcome": outcome});
        match service {
            "dynamodb" if !targets.is_empty() => {
                let mut items = Vec::new();
                for (t, before) in targets.iter().zip(befores) {
                    let schema = self.schema(&t.table, auth.as_deref()).await;
                    let after = self
                        .get_item(&t.table, t.key.as_ref(), auth.as_deref())
                        .await;
                    items.push(write_entry(t, &schema, before.as_ref(), after.as_ref()));
                }
                entry["transaction"] = json!(op == "TransactWriteItems");
                entry["writes"] = Value::Array(items);
            }
            "dynamodb" => {
                entry["transaction"] = json!(op == "TransactGetItems");
                entry["reads"] =
                    Value::Array(self.reads(&op, &body, &reply, auth.as_deref()).await);
            }
            "sqs" => sqs_entry(&op, &body, &mut entry),
            "secretsmanager" => {
                let id = body["SecretId"]
                    .as_str()
                    .or(body["Name"].as_str())
                    .unwrap_or("");
                entry["secret"] = json!(pattern(id));
            }
            _ => {}
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.requests.push(Recorded { segment, entry });
        Ok(response)
    }

    async fn side(&self, op: &str, body: Value, auth: Option<&str>) -> Value {
        let mut req = self
            .side
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{op}"))
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        match req.send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    async fn schema(&self, table: &str, auth: Option<&str>) -> Arc<Schema> {
        if let Some(s) = self
            .schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
        {
            return s.clone();
        }
        let d = self
            .side("DescribeTable", json!({"TableName": table}), auth)
            .await;
        let keys = |schema: &Value| {
            let mut hash = String::new();
            let mut range = None;
            for k in schema.as_array().into_iter().flatten() {
                let name = k["AttributeName"].as_str().unwrap_or("").to_string();
                if k["KeyType"] == "HASH" {
                    hash = name;
                } else {
                    range = Some(name);
                }
            }
            (hash, range)
        };
        let (hash, range) = keys(&d["Table"]["KeySchema"]);
        let indexes = d["Table"]["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let (hash, range) = keys(&g["KeySchema"]);
                let include = match g["Projection"]["ProjectionType"].as_str() {
                    Some("ALL") => None,
                    Some("KEYS_ONLY") => Some(Vec::new()),
                    // INCLUDE: the keys and the listed attributes.
                    _ => Some(
                        g["Projection"]["NonKeyAttributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str().map(str::to_string))
                            .collect(),
                    ),
                };
                Index {
                    name: g["IndexName"].as_str().unwrap_or("").to_string(),
                    hash,
                    range,
                    include,
                }
            })
            .collect::<Vec<_>>();
        let mut indexes = indexes;
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let schema = Arc::new(Schema {
            hash,
            range,
            indexes,
        });
        self.schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), schema.clone());
        schema
    }

    async fn get_item(
        &self,
        table: &str,
        key: Option<&Map<String, Value>>,
        auth: Option<&str>,
    ) -> Option<Map<String, Value>> {
        let key = key?;
        let r = self
            .side(
                "GetItem",
                json!({"TableName": table, "Key": key, "ConsistentRead": true}),
                auth,
            )
            .await;
        r["Item"].as_object().cloned()
    }

    /// What a read returned: per partition key read, the items and their bytes.
    async fn reads(&self, op: &str, body: &Value, reply: &Value, auth: Option<&str>) -> Vec<Value> {
        let consistent = body["ConsistentRead"].as_bool().unwrap_or(false);
        match op {
            "GetItem" => {
                let item = reply["Item"].as_object();
                let table = body["TableName"].as_str().unwrap_or("").to_string();
                let schema = self.schema(&table, auth).await;
                vec![json!({
                    "table": resource(&table),
                    "index": Value::Null,
                    "pk": key_pattern(&body["Key"], Some(&schema.hash)),
                    "sk": schema.range.as_deref().map(|r| key_pattern(&body["Key"], Some(r))),
                    "consistent": consistent,
                    "items": usize::from(item.is_some()),
                    "bytes": item.map_or(0, item_bytes),
                })]
            }
            "Query" | "Scan" => {
                let table = body["TableName"].as_str().unwrap_or("").to_string();
                let schema = self.schema(&table, auth).await;
                let index = body["IndexName"].as_str();
                let hash = match index {
                    None => schema.hash.clone(),
                    Some(i) => schema
                        .indexes
                        .iter()
                        .find(|x| x.name == i)
                        .map(|x| x.hash.clone())
                        .unwrap_or_default(),
                };
                let pk = if op == "Query" {
                    query_hash_value(body, &hash).map(|v| pattern(&v))
                } else {
                    Some("<scan>".to_string())
                };
                let items = reply["Items"].as_array().cloned().unwrap_or_default();
                let bytes: u64 = items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(item_bytes)
                    .sum();
                vec![json!({
                    "table": resource(&table),
                    "index": index,
                    "key_attribute": hash,
                    "pk": pk,
                    "consistent": consistent,
                    "items": items.len(),
                    "scanned": reply["ScannedCount"].as_u64().unwrap_or(items.len() as u64),
                    "filtered": body.get("FilterExpression").is_some(),
                    "bytes": bytes,
                })]
            }
            "TransactGetItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(
                    reply["Responses"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .chain(std::iter::repeat(Value::Null)),
                )
                .map(|(req, res)| {
                    let item = res["Item"].as_object();
                    json!({
                        "table": resource(req["Get"]["TableName"].as_str().unwrap_or("")),
                        "index": Value::Null,
                        "pk": key_pattern(&req["Get"]["Key"], None),
                        "consistent": true,
                        "items": usize::from(item.is_some()),
                        "bytes": item.map_or(0, item_bytes),
                    })
                })
                .collect(),
            "BatchGetItem" => {
                let mut out = Vec::new();
                for (table, items) in reply["Responses"].as_object().into_iter().flatten() {
                    for item in items.as_array().into_iter().flatten() {
                        let Some(item) = item.as_object() else {
                            continue;
                        };
                        out.push(json!({
                            "table": resource(table),
                            "index": Value::Null,
                            "pk": item.get("pk").map(|v| key_pattern(&json!({"pk": v}), None)),
                            "consistent": body["RequestItems"][table]["ConsistentRead"].as_bool().unwrap_or(false),
                            "items": 1,
                            "bytes": item_bytes(item),
                        }));
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

async fn collect(body: SdkBody) -> Result<bytes::Bytes, ConnectorError> {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(ConnectorError::io)
}

/// The items a DynamoDB write request touches.
fn write_targets(op: &str, body: &Value) -> Vec<Target> {
    let table = |v: &Value| v["TableName"].as_str().unwrap_or("").to_string();
    let conditional = |v: &Value| v.get("ConditionExpression").is_some();
    let obj = |v: &Value| v.as_object().cloned();
    match op {
        "PutItem" => vec![Target {
            action: "Put",
            table: table(body),
            key: None,
            item: obj(&body["Item"]),
            conditional: conditional(body),
        }],
        "UpdateItem" | "DeleteItem" => vec![Target {
            action: if op == "UpdateItem" {
                "Update"
            } else {
                "Delete"
            },
            table: table(body),
            key: obj(&body["Key"]),
            item: None,
            conditional: conditional(body),
        }],
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let (action, v) = t.as_object()?.iter().next()?;
                let action = match action.as_str() {
                    "Put" => "Put",
                    "Update" => "Update",
                    "Delete" => "Delete",
                    _ => "ConditionCheck",
                };
                Some(Target {
                    action,
                    table: table(v),
                    key: obj(&v["Key"]),
                    item: obj(&v["Item"]),
                    conditional: conditional(v),
                })
            })
            .collect(),
        "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, reqs)| {
                reqs.as_array().into_iter().flatten().map(move |r| {
                    if let Some(p) = r.get("PutRequest") {
                        Target {
                            action: "Put",
                            table: t.clone(),
                            key: None,
                            item: obj(&p["Item"]),
                            conditional: false,
                        }
                    } else {
                        Target {
                            action: "Delete",
                            table: t.clone(),
                            key: obj(&r["DeleteRequest"]["Key"]),
                            item: None,
                            conditional: false,
                        }
                    }
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn key_of(item: &Map<String, Value>, schema: &Schema) -> Option<Map<String, Value>> {
    let mut key = Map::new();
    key.insert(schema.hash.clone(), item.get(&schema.hash)?.clone());
    if let Some(r) = &schema.range {
        key.insert(r.clone(), item.get(r)?.clone());
    }
    Some(key)
}

fn scalar(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    o.get("S")
        .or_else(|| o.get("N"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The pattern of a key's hash value (`pk` unless named).
fn key_pattern(key: &Value, attr: Option<&str>) -> Value {
    let v = key
        .get(attr.unwrap_or("pk"))
        .and_then(scalar)
        .map(|s| pattern(&s));
    json!(v)
}

/// The hash key value a Query's key condition names (`pk = :pk`, `#k = :v`).
fn query_hash_value(body: &Value, hash: &str) -> Option<String> {
    let expr = body["KeyConditionExpression"].as_str()?;
    let names = &body["ExpressionAttributeNames"];
    for part in expr.split(" AND ").chain(expr.split(" and ")) {
        let Some((lhs, rhs)) = part.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_start_matches('(');
        let rhs = rhs.trim().trim_end_matches(')');
        let name = if lhs.starts_with('#') {
            names[lhs].as_str().unwrap_or("")
        } else {
            lhs
        };
        if name == hash {
            return scalar(&body["ExpressionAttributeValues"][rhs]);
        }
    }
    None
}

/// An item's entry in one index: `None` when the item is not in it (a sparse index).
fn index_entry(
    item: &Map<String, Value>,
    schema: &Schema,
    index: &Index,
) -> Option<Map<String, Value>> {
    item.get(&index.hash)?;
    if let Some(r) = &index.range {
        item.get(r)?;
    }
    match &index.include {
        None => Some(item.clone()),
        Some(include) => {
            let mut keep: Vec<&str> = vec![schema.hash.as_str(), index.hash.as_str()];
            keep.extend(schema.range.as_deref());
            keep.extend(index.range.as_deref());
            keep.extend(include.iter().map(String::as_str));
            Some(
                item.iter()
                    .filter(|(k, _)| keep.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
    }
}

fn write_entry(
    t: &Target,
    schema: &Schema,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Value {
    let key = t
        .key
        .as_ref()
        .map(|k| Value::Object(k.clone()))
        .unwrap_or(Value::Null);
    let indexes: Vec<Value> = schema
        .indexes
        .iter()
        .map(|ix| {
            let b = before.and_then(|i| index_entry(i, schema, ix));
            let a = after.and_then(|i| index_entry(i, schema, ix));
            let side = |e: &Option<Map<String, Value>>| match e {
                None => Value::Null,
                Some(e) => json!({
                    "pk": e.get(&ix.hash).and_then(scalar).map(|s| pattern(&s)),
                    "bytes": item_bytes(e),
                }),
            };
            json!({
                "index": ix.name,
                "key_attribute": ix.hash,
                "before": side(&b),
                "after": side(&a),
                "changed": b != a,
                "key_changed": match (&b, &a) {
                    (Some(b), Some(a)) => {
                        b.get(&ix.hash) != a.get(&ix.hash)
                            || ix.range.as_ref().is_some_and(|r| b.get(r) != a.get(r))
                    }
                    _ => false,
                },
            })
        })
        .collect();
    json!({
        "action": t.action,
        "table": resource(&t.table),
        "conditional": t.conditional,
        "pk": key_pattern(&key, Some(&schema.hash)),
        "sk": schema.range.as_deref().map(|r| key_pattern(&key, Some(r))),
        "before_bytes": before.map_or(0, item_bytes),
        "after_bytes": after.map_or(0, item_bytes),
        "indexes": indexes,
    })
}

fn message_bytes(m: &Value) -> u64 {
    let body = m["MessageBody"].as_str().map_or(0, str::len) as u64;
    let attrs: u64 = m["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            k.len() as u64
                + v["DataType"].as_str().map_or(0, str::len) as u64
                + v["StringValue"].as_str().map_or(0, str::len) as u64
        })
        .sum();
    body + attrs
}

fn sqs_entry(op: &str, body: &Value, entry: &mut Value) {
    entry["queue"] = json!(resource(body["QueueUrl"].as_str().unwrap_or("")));
    let messages: Vec<Value> = match op {
        "SendMessage" => vec![json!({
            "bytes": message_bytes(body),
            "delay_seconds": body["DelaySeconds"].as_u64().unwrap_or(0),
        })],
        "SendMessageBatch" => body["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| json!({"bytes": message_bytes(m), "delay_seconds": m["DelaySeconds"].as_u64().unwrap_or(0)}))
            .collect(),
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => body["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| json!({"visibility_timeout": m["VisibilityTimeout"].as_u64()}))
            .collect(),
        "ChangeMessageVisibility" => vec![json!({"visibility_timeout": body["VisibilityTimeout"].as_u64()})],
        _ => Vec::new(),
    };
    entry["messages"] = Value::Array(messages);
}
