//! The `scimitar` binary; its program is the library's command line, [`scimitar::cli::main`].

fn main() -> std::process::ExitCode {
    scimitar::cli::main()
}
