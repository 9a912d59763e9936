//! The template's DynamoDB tables, created on the local endpoint when missing: keys, indexes
//! (global and local), billing mode and TTL, as CloudFormation would create them.

use super::TableSpec;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_json::Value;
use std::time::Duration;

/// Why a table could not be created: its logical id and the reason.
pub(crate) type TableError = (String, String);

/// Creates every table that does not exist yet; existing ones are left as they are.
pub(crate) async fn create_missing(
    client: &Client,
    tables: &[TableSpec],
) -> Result<(), TableError> {
    for table in tables {
        create_if_missing(client, table)
            .await
            .map_err(|reason| (table.logical_id.clone(), reason))?;
    }
    Ok(())
}

async fn create_if_missing(client: &Client, table: &TableSpec) -> Result<(), String> {
    let exists = match client.describe_table().table_name(&table.name).send().await {
        Ok(_) => true,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(err) => {
            return Err(format!(
                "DescribeTable {}: {}",
                table.name,
                aws_sdk_dynamodb::error::DisplayErrorContext(err)
            ));
        }
    };
    if exists {
        tracing::info!(table = %table.name, "table exists");
        return Ok(());
    }
    let p = &table.properties;
    let mut request = client
        .create_table()
        .table_name(&table.name)
        .set_attribute_definitions(Some(attributes(p.get("AttributeDefinitions"))?))
        .set_key_schema(Some(key_schema(p.get("KeySchema"))?));
    let billing = p
        .get("BillingMode")
        .and_then(Value::as_str)
        .unwrap_or("PROVISIONED");
    request = match billing {
        "PAY_PER_REQUEST" => request.billing_mode(BillingMode::PayPerRequest),
        _ => request
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(throughput(p.get("ProvisionedThroughput"))?),
    };
    if let Some(Value::Array(indexes)) = p.get("GlobalSecondaryIndexes") {
        for index in indexes {
            let mut built = GlobalSecondaryIndex::builder()
                .index_name(field(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
                .projection(projection(index.get("Projection")));
            if billing != "PAY_PER_REQUEST" {
                built =
                    built.provisioned_throughput(throughput(index.get("ProvisionedThroughput"))?);
            }
            request = request.global_secondary_indexes(built.build().map_err(|e| e.to_string())?);
        }
    }
    if let Some(Value::Array(indexes)) = p.get("LocalSecondaryIndexes") {
        for index in indexes {
            let built = LocalSecondaryIndex::builder()
                .index_name(field(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
                .projection(projection(index.get("Projection")))
                .build()
                .map_err(|e| e.to_string())?;
            request = request.local_secondary_indexes(built);
        }
    }
    match request.send().await {
        Ok(_) => {}
        // Another gateway created it since DescribeTable (tests start several at once): that
        // one finishes setting it up.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return wait_until_active(client, &table.name).await;
        }
        Err(err) => {
            return Err(format!(
                "CreateTable {}: {}",
                table.name,
                aws_sdk_dynamodb::error::DisplayErrorContext(err)
            ));
        }
    }
    wait_until_active(client, &table.name).await?;
    if let Some(ttl) = p.get("TimeToLiveSpecification")
        && ttl
            .get("Enabled")
            .is_some_and(|e| e == &Value::Bool(true) || e == "true")
    {
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(field(ttl, "AttributeName")?)
            .enabled(true)
            .build()
            .map_err(|e| e.to_string())?;
        client
            .update_time_to_live()
            .table_name(&table.name)
            .time_to_live_specification(specification)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "UpdateTimeToLive {}: {}",
                    table.name,
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            })?;
    }
    tracing::info!(table = %table.name, "table created");
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), String> {
    for _ in 0..100 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "DescribeTable {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                )
            })?;
        if described
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{name} did not become ACTIVE within 10 s"))
}

fn field(value: &Value, name: &str) -> Result<String, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{name} is required"))
}

fn attributes(value: Option<&Value>) -> Result<Vec<AttributeDefinition>, String> {
    let Some(Value::Array(items)) = value else {
        return Err("AttributeDefinitions is required".into());
    };
    items
        .iter()
        .map(|item| {
            let kind = field(item, "AttributeType")?;
            if !matches!(kind.as_str(), "S" | "N" | "B") {
                return Err(format!("AttributeType {kind:?}: S, N or B"));
            }
            AttributeDefinition::builder()
                .attribute_name(field(item, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn key_schema(value: Option<&Value>) -> Result<Vec<KeySchemaElement>, String> {
    let Some(Value::Array(items)) = value else {
        return Err("KeySchema is required".into());
    };
    items
        .iter()
        .map(|item| {
            let kind = match field(item, "KeyType")?.as_str() {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => return Err(format!("KeyType {other:?}: HASH or RANGE")),
            };
            KeySchemaElement::builder()
                .attribute_name(field(item, "AttributeName")?)
                .key_type(kind)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn projection(value: Option<&Value>) -> Projection {
    let kind = value
        .and_then(|p| p.get("ProjectionType"))
        .and_then(Value::as_str)
        .unwrap_or("KEYS_ONLY");
    let attributes = value
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        });
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .set_non_key_attributes(attributes)
        .build()
}

fn throughput(value: Option<&Value>) -> Result<ProvisionedThroughput, String> {
    let units = |name: &str| -> i64 {
        value
            .and_then(|t| t.get(name))
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(5)
    };
    ProvisionedThroughput::builder()
        .read_capacity_units(units("ReadCapacityUnits"))
        .write_capacity_units(units("WriteCapacityUnits"))
        .build()
        .map_err(|e| e.to_string())
}
