//! Which failure a container simulates, read from its image reference.
//!
//! The image is the only thing a test (or the product under test) changes during a rollout, so choosing the simulated
//! behaviour by image lets a test roll "to a broken image" exactly like a user would, with no side channel.

/// What the fake kubelet does with one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Pulled, started, Ready after the ready delay.
    Healthy,
    /// `ErrImagePull` then `ImagePullBackOff`, forever.
    Unpullable,
    /// Starts, exits with code 1, `CrashLoopBackOff`, restarts with a growing restart count.
    CrashLoop,
    /// Runs but its readiness probe fails forever (`Unhealthy` events).
    NeverReady,
    /// `CreateContainerConfigError`: a referenced ConfigMap is missing.
    ConfigError,
    /// `CreateContainerError`: the runtime refuses to create the container (a volume mount's subPath).
    CreateError,
}

impl Behaviour {
    /// Chooses by the first marker word found anywhere in the image reference (name or tag).
    pub fn from_image(image: &str) -> Self {
        let image = image.to_ascii_lowercase();
        if image.contains("unpullable") {
            Behaviour::Unpullable
        } else if image.contains("crashloop") {
            Behaviour::CrashLoop
        } else if image.contains("never-ready") {
            Behaviour::NeverReady
        } else if image.contains("configerror") {
            Behaviour::ConfigError
        } else if image.contains("createerror") {
            Behaviour::CreateError
        } else {
            Behaviour::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_tag_or_name_choose_the_failure() {
        for (image, behaviour) in [
            ("registry.local/api:unpullable", Behaviour::Unpullable),
            ("registry.local/crashloop:v2", Behaviour::CrashLoop),
            ("api:v2-never-ready", Behaviour::NeverReady),
            ("api:CONFIGERROR", Behaviour::ConfigError),
            ("api:v2-createerror", Behaviour::CreateError),
        ] {
            assert_eq!(Behaviour::from_image(image), behaviour, "{image}");
        }
    }

    #[test]
    fn ordinary_images_are_healthy() {
        assert_eq!(Behaviour::from_image("nginx:1.19"), Behaviour::Healthy);
        assert_eq!(
            Behaviour::from_image("registry.local/api:v2"),
            Behaviour::Healthy
        );
    }
}
