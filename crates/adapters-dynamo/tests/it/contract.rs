//! The `OrderRepository` contract suite, on DynamoDB Local.

testkit::repository_contract!(testkit::dynamodb::fresh_repository().await);
