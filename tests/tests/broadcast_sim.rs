//! A small run of `make bench-broadcast`'s simulation, so that it keeps working: 2,000 virtual
//! recipients under a 2,000/s throttle, the report exact (the binary fails otherwise). Its
//! timing is the benchmark's business, not asserted here.

#[test]
fn the_broadcast_simulation_runs_and_its_report_is_exact() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_broadcast-sim"))
        .args([
            "--sizes",
            "2000",
            "--rate",
            "2000",
            "--burst",
            "200",
            "--workers",
            "3",
            "--shard-size",
            "500",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("2000 "))
        .expect("a row for 2000");
    assert!(row.trim_end().ends_with("true"), "{row}");
}
