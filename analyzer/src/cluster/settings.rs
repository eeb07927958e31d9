//! The plan's `[analyze]` settings as a clustering configuration: the one
//! reader of those settings, shared by `strangler analyze` (which layers its
//! flags on top) and the planner's re-suggest.

use strangler_plan::AnalyzeSettings;

use super::suggest::{DEFAULT_RESOLUTION, SuggestConfig};

/// A setting of the plan's `[analyze]` table that cannot be used, named by
/// its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// `analyze.granularity` names no granularity.
    #[error(
        "analyze.granularity = {value:?} is not a granularity; set it to one of {}",
        AnalyzeSettings::GRANULARITIES.join(", ")
    )]
    Granularity {
        /// The value in the plan.
        value: String,
    },
    /// `analyze.weights` names a kind of evidence that does not exist.
    #[error(
        "analyze.weights.{name} is not a kind of evidence; the kinds are {}",
        AnalyzeSettings::WEIGHTS.join(", ")
    )]
    UnknownWeight {
        /// The kind named.
        name: String,
    },
    /// A weight is negative or not a number.
    #[error("analyze.weights.{name} = {value} must be a number, zero or more")]
    Weight {
        /// The kind.
        name: String,
        /// The value in the plan.
        value: f64,
    },
    /// `analyze.resolution` is not a positive number.
    #[error("analyze.resolution = {value} must be a positive number, such as {DEFAULT_RESOLUTION}")]
    Resolution {
        /// The value in the plan.
        value: f64,
    },
}

impl SuggestConfig {
    /// The clustering configuration the plan's `[analyze]` settings ask for,
    /// with the defaults for what they leave out. `existing` is empty and
    /// `reset` false: the caller adds the plan's services and its own
    /// overrides (the binary's flags).
    pub fn from_settings(settings: &AnalyzeSettings) -> Result<Self, SettingsError> {
        let mut config = Self::default();
        if let Some(value) = settings.granularity.as_deref() {
            config.granularity = value.parse().map_err(|_| SettingsError::Granularity {
                value: value.to_owned(),
            })?;
        }
        for (name, &value) in &settings.weights {
            let slot = config
                .weights
                .slot_mut(name)
                .ok_or_else(|| SettingsError::UnknownWeight { name: name.clone() })?;
            if !(value.is_finite() && value >= 0.0) {
                return Err(SettingsError::Weight {
                    name: name.clone(),
                    value,
                });
            }
            *slot = value;
        }
        if let Some(value) = settings.resolution {
            if !(value.is_finite() && value > 0.0) {
                return Err(SettingsError::Resolution { value });
            }
            config.resolution = value;
        }
        if let Some(seed) = settings.seed {
            config.seed = seed;
        }
        config.services = settings.services.map(|n| n as usize);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cluster::{DEFAULT_SEED, Granularity, Weights};

    #[test]
    fn every_weight_the_plan_names_has_a_slot_and_no_other() {
        let mut weights = Weights::default();
        for name in AnalyzeSettings::WEIGHTS {
            assert!(weights.slot_mut(name).is_some(), "{name}");
        }
        assert!(weights.slot_mut("colour").is_none());
    }

    #[test]
    fn settings_fill_the_config_and_defaults_fill_the_rest() {
        let settings = AnalyzeSettings {
            granularity: Some("file".to_owned()),
            resolution: Some(2.0),
            seed: None,
            services: Some(3),
            weights: BTreeMap::from([("calls".to_owned(), 3.0)]),
        };
        let config = SuggestConfig::from_settings(&settings).expect("valid");
        assert_eq!(config.granularity, Granularity::File);
        assert!((config.resolution - 2.0).abs() < f64::EPSILON);
        assert_eq!(config.seed, DEFAULT_SEED);
        assert_eq!(config.services, Some(3));
        assert!((config.weights.calls - 3.0).abs() < f64::EPSILON);
        assert!((config.weights.reads - Weights::default().reads).abs() < f64::EPSILON);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad = |settings: AnalyzeSettings| {
            SuggestConfig::from_settings(&settings)
                .expect_err("invalid")
                .to_string()
        };
        let e = bad(AnalyzeSettings {
            granularity: Some("crate".to_owned()),
            ..AnalyzeSettings::default()
        });
        assert!(e.starts_with("analyze.granularity = \"crate\""), "{e}");
        let e = bad(AnalyzeSettings {
            weights: BTreeMap::from([("colour".to_owned(), 1.0)]),
            ..AnalyzeSettings::default()
        });
        assert!(e.starts_with("analyze.weights.colour is not"), "{e}");
        assert!(e.contains("reads, writes"), "{e}");
        let e = bad(AnalyzeSettings {
            weights: BTreeMap::from([("reads".to_owned(), -1.0)]),
            ..AnalyzeSettings::default()
        });
        assert!(e.starts_with("analyze.weights.reads = -1"), "{e}");
        let e = bad(AnalyzeSettings {
            resolution: Some(0.0),
            ..AnalyzeSettings::default()
        });
        assert!(e.starts_with("analyze.resolution = 0"), "{e}");
    }
}
