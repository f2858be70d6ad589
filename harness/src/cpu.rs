//! CPU time of this process: a cost figure that a shared machine disturbs less than req/s.

/// User + system CPU seconds of this process so far, from `/proc/self/stat` (0 elsewhere).
pub(crate) fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces) follow its last ')'; utime
    // and stime are the line's 14th and 15th, the 12th and 13th after the name, in ticks of
    // 1/100 s.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}
