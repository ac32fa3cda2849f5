//! Types that decode secrets without ever echoing them: [`SecretText`] for a secret value and
//! [`Mapping`] for a section that holds secrets.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A secret as written in a file: text only. Its decoding refuses every other YAML type (number,
/// boolean, null, list, mapping, tagged value) with a message that names the type and never the
/// value; it has no `Display`, and `Debug` shows nothing of it. The web config's password hashes
/// use it too, since a plaintext password is what ends up there by mistake.
pub struct SecretText(SecretString);

impl SecretText {
    /// The secret, still wrapped.
    pub fn into_secret(self) -> SecretString {
        self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

/// In every message about a secret that is not text; the config file's errors add where a
/// secret had better come from.
pub(super) const NOT_SHOWN: &str = "(its value is not shown: this field holds a secret)";

/// What a secret field holds instead of text, and how to fix it. Never the value itself.
fn not_text(kind: &str, fix: &str) -> String {
    format!("is {kind}, not text {NOT_SHOWN}; {fix}")
}

const QUOTE_IT: &str = "quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents)";
const ONE_STRING: &str = "write the secret as one quoted string";

/// The visitor methods that refuse what neither [`SecretText`] nor [`Mapping`] accepts: a
/// boolean or a number, each refused with `scalar(kind)`, and binary data, a list or a tagged
/// value, each with `other(kind)`. `kind` names the YAML type, never the value.
macro_rules! refuse_shared {
    ($value:ty, scalar: $scalar:expr, other: $other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Err(E::custom(($scalar)("a boolean")))
        }

        refuse_shared!(@numbers $value, $scalar; visit_i64 i64, visit_i128 i128, visit_u64 u64, visit_u128 u128, visit_f64 f64);

        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<$value, E> {
            Err(E::custom(($other)("binary data")))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<$value, A::Error> {
            Err(de::Error::custom(($other)("a list")))
        }

        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<$value, A::Error> {
            Err(de::Error::custom(($other)("a tagged value (`!tag …`)")))
        }
    };
    (@numbers $value:ty, $scalar:expr; $($visit:ident $number:ty),*) => {
        $(
            fn $visit<E: de::Error>(self, _: $number) -> Result<$value, E> {
                Err(E::custom(($scalar)("a number")))
            }
        )*
    };
}

struct SecretTextVisitor;

impl<'de> Visitor<'de> for SecretTextVisitor {
    type Value = SecretText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v)))
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v.to_string())))
    }

    refuse_shared!(
        SecretText,
        scalar: |kind| not_text(kind, QUOTE_IT),
        other: |kind| not_text(kind, ONE_STRING)
    );

    fn visit_unit<E: de::Error>(self) -> Result<SecretText, E> {
        Err(E::custom(
            "is empty (null); set it, for example from an environment variable: ${VAR}",
        ))
    }

    fn visit_none<E: de::Error>(self) -> Result<SecretText, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<SecretText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<SecretText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<SecretText, A::Error> {
        Err(de::Error::custom(not_text("a mapping", ONE_STRING)))
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretText, D::Error> {
        // `deserialize_any`, not `deserialize_string`: the latter lets the format report a wrong
        // type itself, quoting the value (``invalid type: integer `86753091234567` ``).
        d.deserialize_any(SecretTextVisitor)
    }
}

/// A section that holds secrets (`auth`, `auth.password`, …): a mapping decoded as `T`, field
/// paths and unknown-key errors intact. Anything else is refused by its type, never quoted: a
/// secret written where its section belongs (`auth: { password: ${PW} }`) would otherwise be
/// echoed by the "expected struct" error.
pub struct Mapping<T>(pub T);

struct MappingVisitor<T>(std::marker::PhantomData<T>);

const A_MAPPING: &str =
    "write this section as a mapping of its fields (see the annotated config.yaml)";

impl<'de, T: Deserialize<'de>> Visitor<'de> for MappingVisitor<T> {
    type Value = Mapping<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Mapping<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Mapping)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Mapping<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Mapping<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Mapping<T>, E> {
        Err(E::custom(not_mapping("text")))
    }

    refuse_shared!(Mapping<T>, scalar: not_mapping, other: not_mapping);

    fn visit_unit<E: de::Error>(self) -> Result<Mapping<T>, E> {
        Err(E::custom(not_mapping("empty (null)")))
    }

    fn visit_none<E: de::Error>(self) -> Result<Mapping<T>, E> {
        self.visit_unit()
    }
}

fn not_mapping(kind: &str) -> String {
    format!("is {kind}, not a mapping (its value is not shown: this section holds secrets); {A_MAPPING}")
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Mapping<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mapping<T>, D::Error> {
        d.deserialize_any(MappingVisitor(std::marker::PhantomData))
    }
}
