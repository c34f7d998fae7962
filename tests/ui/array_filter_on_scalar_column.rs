use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "posts")]
pub struct Post {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub title: String,
    pub tags: Vec<String>,
}

fn main() {
    // Array operators exist only on array columns.
    let _ = Post::query().filter(Post::TITLE.overlaps(["a"]));
    let _ = Post::query().filter(Post::TITLE.any_eq("a"));
    // And an array column compares with elements of its own type.
    let _ = Post::query().filter(Post::TAGS.any_eq(5_i64));
}
