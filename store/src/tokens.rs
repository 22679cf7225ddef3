//! API tokens: who may call the API, with which scopes, until when.
//!
//! The store keeps each token's SHA-256 digest, never the token: `pacer token create` makes the
//! token, shows it once and hands the store its digest; a request's token is hashed and looked
//! up by that digest. Names and digests are unique by constraint (`api_tokens_name_unique`), so
//! a second token with a taken name is refused without a check-then-insert race. Rows are never
//! deleted; revoking sets `revoked_at`. What a scope allows is the API's business, not the store's.

use pacer_engine::Millis;

use crate::{Result, Store, StoreError, with_pool};

/// A token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken<'a> {
    /// Its unique name.
    pub name: &'a str,
    /// Hex SHA-256 of the token.
    pub token_hash: &'a str,
    /// The token's first characters, to recognize it in a list.
    pub prefix: &'a str,
    /// Comma-separated scopes.
    pub scopes: &'a str,
    /// When it stops working; `None` for never.
    pub expires_at: Option<Millis>,
}

/// A stored token (without the token, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    /// Its row id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// The token's first characters.
    pub prefix: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// When it was created (epoch ms).
    pub created_at: Millis,
    /// When it stops working (epoch ms), if ever.
    pub expires_at: Option<Millis>,
    /// When it was revoked (epoch ms), if it was.
    pub revoked_at: Option<Millis>,
    /// When it was last used (epoch ms, to the minute), if ever.
    pub last_used_at: Option<Millis>,
}

impl TokenRow {
    /// Whether it is neither revoked nor expired at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// What storing a new token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored, with this row.
    Stored(TokenRow),
    /// Another token already has this name.
    NameTaken,
}

impl Store {
    /// Stores a new token at `now`.
    ///
    /// # Errors
    /// The database failed; nothing is stored.
    pub async fn create_token(&self, token: &NewToken<'_>, now: Millis) -> Result<Created> {
        const SQL: &str = "INSERT INTO api_tokens (name, token_hash, prefix, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at";
        let inserted = with_pool!(self, pool => {
            sqlx::query_as::<_, TokenRow>(SQL)
                .bind(token.name)
                .bind(token.token_hash)
                .bind(token.prefix)
                .bind(token.scopes)
                .bind(now)
                .bind(token.expires_at)
                .fetch_one(pool)
                .await
        });
        match inserted {
            Ok(row) => Ok(Created::Stored(row)),
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("api_tokens_name_unique") || (db.is_unique_violation() && db.message().contains("api_tokens.name")) => {
                Ok(Created::NameTaken)
            }
            Err(e) => Err(StoreError::classify(e)),
        }
    }

    /// Every token, oldest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>> {
        const SQL: &str = "SELECT id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at FROM api_tokens ORDER BY id";
        let rows = with_pool!(self, pool => sqlx::query_as::<_, TokenRow>(SQL).fetch_all(pool).await.map_err(StoreError::classify)?);
        Ok(rows)
    }

    /// The token whose digest is `token_hash`, active or not.
    ///
    /// # Errors
    /// The database failed.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRow>> {
        const SQL: &str =
            "SELECT id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1";
        let row = with_pool!(self, pool => {
            sqlx::query_as::<_, TokenRow>(SQL).bind(token_hash).fetch_optional(pool).await.map_err(StoreError::classify)?
        });
        Ok(row)
    }

    /// Whether any token was ever created (revoked ones count: revoking the last token must not
    /// open the API again).
    ///
    /// # Errors
    /// The database failed.
    pub async fn any_token(&self) -> Result<bool> {
        const SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 FROM api_tokens LIMIT 1) AS one";
        let count: i64 = with_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await.map_err(StoreError::classify)?);
        Ok(count > 0)
    }

    /// Revokes the active token named `name_or_id` — or, when no active token has that name,
    /// the one whose id it is — at `now`; returns the revoked row, or `None` when there is none.
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoke_token(&self, name_or_id: &str, now: Millis) -> Result<Option<TokenRow>> {
        const BY_NAME: &str = "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL
             RETURNING id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at";
        const BY_ID: &str = "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
             RETURNING id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at";
        let row = with_pool!(self, pool => {
            let by_name = sqlx::query_as::<_, TokenRow>(BY_NAME).bind(now).bind(name_or_id).fetch_optional(pool).await.map_err(StoreError::classify)?;
            match (by_name, name_or_id.parse::<i64>()) {
                (Some(row), _) => Some(row),
                (None, Ok(id)) => sqlx::query_as::<_, TokenRow>(BY_ID).bind(now).bind(id).fetch_optional(pool).await.map_err(StoreError::classify)?,
                (None, Err(_)) => None,
            }
        });
        Ok(row)
    }

    /// Records that token `id` was used at `now`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn touch_token(&self, id: i64, now: Millis) -> Result<()> {
        const SQL: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2";
        with_pool!(self, pool => {
            sqlx::query(SQL).bind(now).bind(id).execute(pool).await.map_err(StoreError::classify)?;
        });
        Ok(())
    }
}
