//! One measured run of a workload: seeding checks, interleaved rounds against Mammoth (and the
//! ceiling), the listen workload, and the first-page exactness check of the query workloads.

use super::*;

pub(super) async fn measure(
    args: &BenchArgs,
    servers: &tokio::runtime::Handle,
    url: &str,
    key: &str,
    server: String,
) -> anyhow::Result<Report> {
    let suffix = mammoth_actors::ids::hex(&fastrand::u32(..).to_be_bytes());
    let collection = format!("bench_{suffix}");
    let mammoth = Arc::new(Target::resolve(url, key, &collection, args.docs).await?);
    client::probe(&mammoth, url).await?;
    if args.workload == Workload::Listen {
        return measure_listen(args, &mammoth, url, server, collection).await;
    }
    eprintln!("seeding {} documents into {collection} at {url}", args.docs);
    let seeded = seed::seed(&mammoth, args.seed_connections).await?;

    let mut notes = Vec::new();
    if matches!(args.workload, Workload::Query | Workload::Mixed) {
        notes.push(check_query(&mammoth, args.docs, PageQuery::Example).await);
    }
    if args.workload == Workload::Or {
        notes.push(check_query(&mammoth, args.docs, PageQuery::Or).await);
    }

    let ceiling = if args.ceiling {
        let docs = args.docs;
        let ceiling = servers.spawn(Ceiling::start(docs)).await??;
        let target = Target::resolve(&ceiling.url(), "ceiling", &collection, docs).await?;
        Some((ceiling, Arc::new(target)))
    } else {
        None
    };

    // pools[0] is Mammoth's, pools[1] the ceiling's.
    let mut pools = vec![Pool::open(&mammoth, args.connections).await?];
    if let Some((_, target)) = &ceiling {
        pools.push(Pool::open(target, args.connections).await?);
    }
    let mut totals: Vec<report::Stats> = pools.iter().map(|_| report::Stats::new()).collect();
    if !args.warmup.is_zero() {
        eprintln!(
            "warming up for {:.1} s per target",
            args.warmup.as_secs_f64()
        );
        for pool in &mut pools {
            pool.round(args.workload, args.warmup, false).await;
        }
    }
    let round = args.duration / args.rounds;
    let cpu_before = cpu::process_cpu_seconds();
    let mut round_req_per_s = Vec::with_capacity(args.rounds as usize);
    for r in 0..args.rounds {
        eprintln!(
            "round {}/{} ({:.2} s per target)",
            r + 1,
            args.rounds,
            round.as_secs_f64()
        );
        // Alternate who goes first (ABBA) so a drift in the machine's speed favours neither.
        let order: Vec<usize> = if r % 2 == 0 {
            (0..pools.len()).collect()
        } else {
            (0..pools.len()).rev().collect()
        };
        for i in order {
            let stats = pools[i].round(args.workload, round, true).await;
            if i == 0 {
                round_req_per_s.push(stats.req_per_s());
            }
            totals[i].add_round(&stats);
        }
    }
    drop(pools);
    let cpu_used = cpu::process_cpu_seconds() - cpu_before;

    let mammoth_report = totals[0].summary();
    let ceiling_report = totals.get(1).map(report::Stats::summary);
    let ratio = ceiling_report
        .as_ref()
        .filter(|c| c.req_per_s > 0.0)
        .map(|c| mammoth_report.req_per_s / c.req_per_s);
    drop(ceiling);
    if args.workload == Workload::Batch {
        notes.push(format!(
            "batch: {:.0} documents/s acknowledged ({} creates per request)",
            mammoth_report.req_per_s * workload::BATCH_SIZE as f64,
            workload::BATCH_SIZE
        ));
    }
    // CPU per write: a figure that a machine shared with other work disturbs far less than
    // req/s. In-process it counts server and load client together (and the ceiling's, if run).
    let writes = match args.workload {
        Workload::Batch => Some(workload::BATCH_SIZE as f64),
        Workload::Create | Workload::Update => Some(1.0),
        _ => None,
    };
    if let Some(per_request) = writes
        && !args.ceiling
        && cpu_used > 0.0
    {
        let done = mammoth_report.req_per_s * args.duration.as_secs_f64() * per_request;
        if done > 0.0 {
            notes.push(format!(
                "cpu: {:.1} us per document written ({}; user + system over the measured rounds)",
                cpu_used * 1e6 / done,
                if args.url.is_some() {
                    "this load client only"
                } else {
                    "server and load client in this process"
                }
            ));
        }
    }
    Ok(Report {
        workload: args.workload.name().to_owned(),
        connections: args.connections,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        rounds: args.rounds,
        docs: args.docs,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        url: url.to_owned(),
        server,
        collection,
        seed_s: seeded.as_secs_f64(),
        mammoth: mammoth_report,
        ceiling: ceiling_report,
        ratio,
        notes,
        round_req_per_s,
        listen: None,
    })
}

async fn measure_listen(
    args: &BenchArgs,
    target: &Arc<Target>,
    url: &str,
    server: String,
    collection: String,
) -> anyhow::Result<Report> {
    let (writes, listen) = listen::measure(
        target,
        args.listeners,
        args.rate,
        args.queries,
        args.duration,
        args.rss_pid,
    )
    .await?;
    Ok(Report {
        workload: args.workload.name().to_owned(),
        connections: listen::WRITERS as u32,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: 0.0,
        rounds: 1,
        docs: 0,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        url: url.to_owned(),
        server,
        collection,
        seed_s: 0.0,
        mammoth: writes,
        ceiling: None,
        ratio: None,
        notes: Vec::new(),
        round_req_per_s: Vec::new(),
        listen: Some(listen),
    })
}

/// Runs `query` once and compares its ids with those a full scan gives.
async fn check_query(target: &Arc<Target>, docs: u64, query: PageQuery) -> String {
    let expected = workload::expected_page(query, docs);
    let name = query.name();
    let answer = async {
        let mut conn = Conn::open(target.clone()).await?;
        let path = format!("{}/query", target.base);
        let body = Bytes::from_static(query.body().as_bytes());
        anyhow::Ok(conn.send(target.request(Method::POST, &path, body)).await?)
    };
    match answer.await {
        Ok((StatusCode::OK, body)) => {
            let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v["documents"].as_array().map(|docs| {
                        docs.iter()
                            .map(|d| d["id"].as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                })
                .unwrap_or_default();
            if ids == expected {
                format!("{name}'s first page matches a full scan")
            } else {
                format!(
                    "{name}'s first page DIFFERS from a full scan: got {} ids \
                     starting {:?}, expected {} starting {:?}",
                    ids.len(),
                    ids.first(),
                    expected.len(),
                    expected.first()
                )
            }
        }
        Ok((status, body)) => format!("{name} answered {status}: {}", client::error_message(&body)),
        Err(e) => format!("{name} failed: {e}"),
    }
}
