fn main() -> std::process::ExitCode {
    summa_bench::main()
}
