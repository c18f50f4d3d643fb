//! The table's definition, once, in code. `create_table` builds it, and a
//! test holds `infra/template.yaml` to the same definition.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// Every key attribute is a string; every index projects all attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexSpec],
    pub ttl_attribute: &'static str,
}

impl TableSpec {
    /// Every key attribute of the table and its indexes, sorted.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.indexes {
            names.push(index.partition_key);
            names.push(index.sort_key);
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Customer listing.
pub(crate) const GSI1: IndexSpec = IndexSpec {
    name: "GSI1",
    partition_key: "GSI1PK",
    sort_key: "GSI1SK",
};

/// The outbox: sparse, only orders with a marked event are in it.
pub(crate) const GSI2: IndexSpec = IndexSpec {
    name: "GSI2",
    partition_key: "GSI2PK",
    sort_key: "GSI2SK",
};

pub const TABLE: TableSpec = TableSpec {
    partition_key: "PK",
    sort_key: "SK",
    indexes: &[GSI1, GSI2],
    ttl_attribute: "ttl",
};

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap_or_else(|_| unreachable!("name and key type are both set"))
}

/// Creates the table (on demand) and turns on TTL for idempotency records.
pub async fn create_table(client: &Client, name: &str) -> Result<(), SdkError<CreateTableError>> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(TABLE.partition_key, KeyType::Hash))
        .key_schema(key(TABLE.sort_key, KeyType::Range));
    for attribute in TABLE.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap_or_else(|_| unreachable!("name and type are both set")),
        );
    }
    for index in TABLE.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash))
                .key_schema(key(index.sort_key, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap_or_else(|_| unreachable!("name, keys and projection are set")),
        );
    }
    request.send().await?;
    // DynamoDB Local accepts TTL settings but never expires items; the
    // repository compares `expiresAt` itself, so this is best effort.
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TABLE.ttl_attribute)
        .build()
        .unwrap_or_else(|_| unreachable!("enabled and name are set"));
    if let Err(err) = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        tracing::warn!(table = name, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "could not enable TTL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `infra/template.yaml` declares the same table as `TABLE`.

    use serde_yaml::Value;

    use super::*;

    fn template_table() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
        let text = std::fs::read_to_string(path).expect("infra/template.yaml");
        let template: Value = serde_yaml::from_str(&text).expect("valid YAML");
        let resources = template["Resources"].as_mapping().expect("Resources");
        let tables: Vec<&Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::DynamoDB::Table")
            .collect();
        assert_eq!(tables.len(), 1, "one table in the template");
        tables[0]["Properties"].clone()
    }

    fn keys(schema: &Value) -> (String, String) {
        let mut hash = String::new();
        let mut range = String::new();
        for key in schema.as_sequence().expect("KeySchema") {
            let name = key["AttributeName"].as_str().expect("name").to_owned();
            match key["KeyType"].as_str() {
                Some("HASH") => hash = name,
                Some("RANGE") => range = name,
                other => panic!("key type {other:?}"),
            }
        }
        (hash, range)
    }

    #[test]
    fn the_template_declares_the_table_defined_in_code() {
        let table = template_table();
        assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            keys(&table["KeySchema"]),
            (TABLE.partition_key.to_owned(), TABLE.sort_key.to_owned())
        );
        let mut attributes: Vec<(String, String)> = table["AttributeDefinitions"]
            .as_sequence()
            .expect("AttributeDefinitions")
            .iter()
            .map(|a| {
                (
                    a["AttributeName"].as_str().expect("name").to_owned(),
                    a["AttributeType"].as_str().expect("type").to_owned(),
                )
            })
            .collect();
        attributes.sort();
        let expected: Vec<(String, String)> = TABLE
            .key_attributes()
            .into_iter()
            .map(|a| (a.to_owned(), "S".to_owned()))
            .collect();
        assert_eq!(attributes, expected);
        let indexes: Vec<(String, (String, String), String)> = table["GlobalSecondaryIndexes"]
            .as_sequence()
            .expect("GlobalSecondaryIndexes")
            .iter()
            .map(|i| {
                (
                    i["IndexName"].as_str().expect("name").to_owned(),
                    keys(&i["KeySchema"]),
                    i["Projection"]["ProjectionType"]
                        .as_str()
                        .expect("projection")
                        .to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, (String, String), String)> = TABLE
            .indexes
            .iter()
            .map(|i| {
                (
                    i.name.to_owned(),
                    (i.partition_key.to_owned(), i.sort_key.to_owned()),
                    "ALL".to_owned(),
                )
            })
            .collect();
        assert_eq!(indexes, expected);
        assert_eq!(
            table["TimeToLiveSpecification"]["AttributeName"],
            TABLE.ttl_attribute
        );
        assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
        assert_eq!(
            table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
    }
}
