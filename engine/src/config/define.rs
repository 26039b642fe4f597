//! The `define_config!` macro: turns the declarative key table into typed structs,
//! their defaults, and the runtime key table ([`KeyDef`](super::key_def::KeyDef)s).

/// Declares the configuration schema.
///
/// Input: one block per section, `[section] StructName { field: Type = default[, range MIN..=MAX]; ... }`,
/// with doc comments on sections and fields. Output, in the invoking module:
/// - `pub struct StructName` per section with `pub` fields and an `impl Default`,
/// - `pub struct Config` holding one field per section (derives `Default`),
/// - `pub(crate) static SECTIONS: &[&str]`, `SECTION_KEYS: &[(&str, &[&str])]` and
///   `KEYS: &[KeyDef]`.
macro_rules! define_config {
    (
        $(
            $(#[doc = $section_doc:literal])*
            [$section:ident] $Section:ident {
                $(
                    $(#[doc = $doc:literal])*
                    $field:ident : $ty:ty = $default:expr $(, range $min:literal ..= $max:literal)? ;
                )+
            }
        )+
    ) => {
        /// The complete engine configuration, one struct per section.
        ///
        /// Build it with [`Config::load`] (layered and validated) or start from
        /// [`Config::default`] (the built-in defaults).
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct Config {
            $(
                $(#[doc = $section_doc])*
                pub $section: $Section,
            )+
        }

        $(
            $(#[doc = $section_doc])*
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct $Section {
                $(
                    $(#[doc = $doc])*
                    ///
                    #[doc = concat!(
                        "Key `", stringify!($section), ".", stringify!($field),
                        "`, default `", stringify!($default), "`",
                        $(", range `", stringify!($min), "..=", stringify!($max), "`",)?
                        "."
                    )]
                    pub $field: $ty,
                )+
            }

            impl Default for $Section {
                fn default() -> Self {
                    Self {
                        $( $field: $default, )+
                    }
                }
            }
        )+

        /// Section names, in table order.
        pub(crate) static SECTIONS: &[&str] = &[$(stringify!($section)),+];

        /// Each section with its full keys, in table order.
        pub(crate) static SECTION_KEYS: &[(&str, &[&str])] = &[
            $(
                (
                    stringify!($section),
                    &[$(concat!(stringify!($section), ".", stringify!($field))),+],
                ),
            )+
        ];

        /// Every key, in table order (sections in order, keys in order within them).
        pub(crate) static KEYS: &[$crate::config::key_def::KeyDef] = &[
            $($(
                $crate::config::key_def::KeyDef {
                    key: concat!(stringify!($section), ".", stringify!($field)),
                    section: stringify!($section),
                    name: stringify!($field),
                    doc: concat!($($doc),*),
                    value_type: <$ty as $crate::config::field::Field>::TYPE
                        $(.bounded($min, $max))?,
                    read: |config: &Config| {
                        $crate::config::field::Field::to_scalar(&config.$section.$field)
                    },
                    write: |config: &mut Config, scalar: &$crate::config::value_type::Scalar| {
                        match <$ty as $crate::config::field::Field>::from_scalar(scalar) {
                            Some(value) => {
                                config.$section.$field = value;
                                true
                            }
                            None => false,
                        }
                    },
                },
            )+)+
        ];
    };
}

pub(crate) use define_config;
