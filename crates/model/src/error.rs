use std::path::PathBuf;

/// Everything that can go wrong loading or running a model, each with one
/// line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tensor(#[from] iris_tensor::Error),
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("{}: {msg}", path.display())]
    Config { path: PathBuf, msg: String },
    #[error("image {}: {msg}", path.display())]
    Image { path: PathBuf, msg: String },
    #[error("weight `{name}`: {msg}")]
    Weight { name: String, msg: String },
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;
