//! Input errors. Every message names the input the way the workflow author writes it (`max_surge`, not
//! `INPUT_MAX_SURGE`) and says how to fix it, because the person reading it is looking at their workflow file.
//! All bad inputs are reported at once: a workflow author should not have to fix them one run at a time.

use std::fmt;

/// One problem with one input or one variable of the runner's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is: an input (`max_surge`) or an environment variable (`GITHUB_EVENT_PATH`).
    pub source: Source,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Input(&'static str),
    Env(&'static str),
}

impl Problem {
    pub fn input(name: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            source: Source::Input(name),
            message: message.into(),
        }
    }

    pub fn env(name: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            source: Source::Env(name),
            message: message.into(),
        }
    }

    /// The input or variable name.
    pub fn name(&self) -> &'static str {
        match self.source {
            Source::Input(n) | Source::Env(n) => n,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Input(name) => write!(f, "input `{name}`: {}", self.message),
            Source::Env(name) => write!(f, "environment variable `{name}`: {}", self.message),
        }
    }
}

/// The inputs could not be turned into [`super::Settings`]; nothing in the cluster was touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// One bad input.
    #[error("{0}")]
    Invalid(Problem),
    /// Several bad inputs, all reported at once.
    #[error("{} inputs are invalid:\n{}", .0.len(), list(.0))]
    Several(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("- {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl InputError {
    /// Every problem, in the order the inputs are documented.
    pub fn problems(&self) -> &[Problem] {
        match self {
            InputError::Invalid(p) => std::slice::from_ref(p),
            InputError::Several(ps) => ps,
        }
    }

    /// Whether some problem is about `name` (an input or a variable).
    pub fn mentions(&self, name: &str) -> bool {
        self.problems().iter().any(|p| p.name() == name)
    }

    pub(crate) fn from_problems(mut problems: Vec<Problem>) -> Option<InputError> {
        match problems.len() {
            0 => None,
            1 => problems.pop().map(InputError::Invalid),
            _ => Some(InputError::Several(problems)),
        }
    }
}

/// Collects problems while every input is parsed, so all of them are reported together.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    /// Keeps the value, or records the problem and returns `None`.
    pub fn take<T>(&mut self, r: std::result::Result<T, Problem>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(p) => {
                self.0.push(p);
                None
            }
        }
    }

    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_names_the_input() {
        let e = InputError::from_problems(vec![Problem::input("max_surge", "bad")]).unwrap();
        assert_eq!(e.to_string(), "input `max_surge`: bad");
        assert!(e.mentions("max_surge"));
    }

    #[test]
    fn several_problems_are_listed() {
        let e = InputError::from_problems(vec![
            Problem::input("mode", "unknown"),
            Problem::env("GITHUB_EVENT_PATH", "missing"),
        ])
        .unwrap();
        let text = e.to_string();
        assert!(text.starts_with("2 inputs are invalid:"), "{text}");
        assert!(text.contains("- input `mode`: unknown"), "{text}");
        assert!(
            text.contains("- environment variable `GITHUB_EVENT_PATH`: missing"),
            "{text}"
        );
        assert!(InputError::from_problems(vec![]).is_none());
    }
}
