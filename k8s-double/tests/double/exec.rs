use cairn_k8s_double::{ExecOutcome, ExecRequest, ExecStreams, LocalProcess, ProcessSetup};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, AttachedProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::{api_error, builder, client};

/// Reads stdout and stderr to their ends together (either may fill up while the other is read).
async fn outputs(process: &mut AttachedProcess) -> (Vec<u8>, Vec<u8>) {
    let mut stdout = process.stdout().unwrap();
    let mut stderr = process.stderr().unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (read_out, read_err) =
        tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    read_out.unwrap();
    read_err.unwrap();
    (out, err)
}

/// The `Status` of an exec the server refused.
fn exec_error(result: kube::Result<AttachedProcess>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        Err(other) => panic!("expected an API error, got {other:?}"),
        Ok(_) => panic!("expected an API error, the exec started"),
    }
}

#[tokio::test]
async fn exec_streams_stdin_stdout_stderr_and_the_exit_code() {
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let params = AttachParams::default().stdin(true).stderr(true);
    let mut process = pods
        .exec("debug", ["sh", "-c", "cat; echo err >&2; exit 3"], &params)
        .await
        .unwrap();
    let status = process.take_status().unwrap();
    let mut stdin = process.stdin().unwrap();
    stdin.write_all(b"hello from stdin\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let (out, err) = outputs(&mut process).await;
    assert_eq!(out, b"hello from stdin\n");
    assert_eq!(err, b"err\n");

    let status = status.await.expect("a status on the error channel");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let causes = status.details.and_then(|d| d.causes).unwrap();
    assert_eq!(causes[0].reason.as_deref(), Some("ExitCode"));
    assert_eq!(causes[0].message.as_deref(), Some("3"));
    process.join().await.unwrap();

    let exec = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/exec"))
        .unwrap();
    assert_eq!(exec.status, 101);
}

#[tokio::test]
async fn a_successful_command_reports_success() {
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "blog");
    let pod = pods.list(&Default::default()).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let mut process = pods
        .exec(&pod, ["echo", "hi"], &AttachParams::default())
        .await
        .unwrap();
    let status = process.take_status().unwrap();
    let (out, _) = outputs(&mut process).await;
    assert_eq!(out, b"hi\n");
    assert_eq!(status.await.unwrap().status.as_deref(), Some("Success"));
}

#[tokio::test]
async fn large_streams_flow_both_ways() {
    const SIZE: usize = 16 * 1024 * 1024;
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");

    let mut process = pods
        .exec(
            "db-0",
            ["head", "-c", &SIZE.to_string(), "/dev/zero"],
            &AttachParams::default(),
        )
        .await
        .unwrap();
    let mut stdout = process.stdout().unwrap();
    let mut total = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(buffer[..n].iter().all(|b| *b == 0));
        total += n;
    }
    assert_eq!(total, SIZE);

    let params = AttachParams::default().stdin(true).stderr(false);
    let mut process = pods.exec("db-0", ["wc", "-c"], &params).await.unwrap();
    let mut stdin = process.stdin().unwrap();
    let mut stdout = process.stdout().unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 1024 * 1024];
        for _ in 0..SIZE / chunk.len() {
            stdin.write_all(&chunk).await.unwrap();
        }
        stdin.shutdown().await.unwrap();
    });
    let mut counted = String::new();
    stdout.read_to_string(&mut counted).await.unwrap();
    writer.await.unwrap();
    assert_eq!(counted.trim(), SIZE.to_string());
}

#[tokio::test]
async fn unknown_pods_and_containers_are_refused() {
    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let missing = exec_error(pods.exec("nope", ["true"], &AttachParams::default()).await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    let container = AttachParams::default().container("nope");
    let wrong = exec_error(pods.exec("debug", ["true"], &container).await);
    assert_eq!(wrong.code, 400);
    assert_eq!(wrong.message, "container nope is not valid for pod debug");
    assert_eq!(api_error(pods.get("nope").await).code, 404);
}

#[tokio::test]
async fn local_processes_run_in_the_pod_s_directory_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.txt"), "volume content").unwrap();
    let handler = LocalProcess::new().setup(
        "shop",
        "db-0",
        Some("postgres"),
        ProcessSetup::default()
            .working_dir(dir.path())
            .env("PGDATABASE", "shop"),
    );
    let server = builder().exec_handler(handler).start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let mut process = pods
        .exec(
            "db-0",
            ["sh", "-c", "cat data.txt; echo \" $PGDATABASE\""],
            &AttachParams::default(),
        )
        .await
        .unwrap();
    let (out, _) = outputs(&mut process).await;
    assert_eq!(out, b"volume content shop\n");
}

#[tokio::test]
async fn custom_handlers_and_missing_commands() {
    let handler = |request: ExecRequest, streams: ExecStreams| async move {
        if let Some(mut stdout) = streams.stdout {
            let line = format!(
                "{}/{}/{}\n",
                request.namespace, request.pod, request.container
            );
            stdout.write_all(line.as_bytes()).await.unwrap();
        }
        ExecOutcome::Exited(0)
    };
    let server = builder().exec_handler(handler).start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let mut process = pods
        .exec("debug", ["anything"], &AttachParams::default())
        .await
        .unwrap();
    let (out, _) = outputs(&mut process).await;
    assert_eq!(out, b"shop/debug/sh\n");

    let server = builder().start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let mut process = pods
        .exec("debug", ["no-such-command-here"], &AttachParams::default())
        .await
        .unwrap();
    let status = process.take_status().unwrap().await.unwrap();
    assert_eq!(status.reason.as_deref(), Some("InternalError"));
    assert!(status
        .message
        .unwrap()
        .contains("executable file not found"));
}

#[tokio::test]
async fn a_v1_24_server_negotiates_v4() {
    let server = builder().exec_v5(false).start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let mut process = pods
        .exec("debug", ["echo", "v4"], &AttachParams::default())
        .await
        .unwrap();
    let status = process.take_status().unwrap();
    let (out, _) = outputs(&mut process).await;
    assert_eq!(out, b"v4\n");
    assert_eq!(status.await.unwrap().status.as_deref(), Some("Success"));
}

#[tokio::test]
async fn over_v4_closing_stdin_closes_the_whole_session() {
    // v4 has no way to close one stream: kube closes the connection instead, so the command is
    // ended and no status arrives. This is what a v1.24 cluster does to `cat` with stdin.
    let server = builder().exec_v5(false).start().unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&server).await, "shop");
    let params = AttachParams::default().stdin(true);
    let mut process = pods.exec("debug", ["cat"], &params).await.unwrap();
    let status = process.take_status().unwrap();
    let mut stdin = process.stdin().unwrap();
    stdin.write_all(b"lost?\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let _ = outputs(&mut process).await;
    assert_eq!(status.await, None);
}
