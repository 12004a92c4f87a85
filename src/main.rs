fn main() -> std::process::ExitCode {
    summa_cli::main()
}
