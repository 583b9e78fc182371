using Sd3Mesh.Pipeline;
using Sd3Mesh.Server.Jobs;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Server.Tests;

/// <summary>
/// A stand-in for the SD3 pipeline: reports the pipeline's stages and every step (with a preview when asked, and
/// "latents" [step] every checkpoint interval), and returns one deterministic PNG per seed (<see cref="ExpectedPng"/>).
/// A resumed job starts after its checkpoint's step. Optionally waits on a gate before its first step, so that tests
/// can hold a job in the running state.
/// </summary>
public sealed class ScriptedExecutor : IJobExecutor
{
    private int _running;

    /// <summary>The model requests are validated against (null: SD3 Medium's limits).</summary>
    public Sd3ModelConfig? Model { get; set; }
    public TimeSpan StepDelay { get; set; }
    /// <summary>When set, every job waits for it before denoising.</summary>
    public TaskCompletionSource? Gate { get; set; }
    /// <summary>Every job stops after this step until it is cancelled (a server stopping in the middle of a job).</summary>
    public int HoldAfterStep { get; set; }
    /// <summary>Throw this instead of producing images.</summary>
    public Exception? Failure { get; set; }
    public List<GenerationSpec> Executed { get; } = [];
    public int MaxConcurrency { get; private set; }
    public TaskCompletionSource<string> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Started { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static byte[] ExpectedPng(int width, int height, ulong seed) =>
        TestPng.Encode(width, height, (x, y) => ((byte)(x * 4 + (int)(seed % 7)), (byte)(y * 4), (byte)(seed % 251)), $"seed={seed}");

    /// <summary>The 2 x 2 preview PNG of step <paramref name="step"/>.</summary>
    public static byte[] ExpectedPreview(int step) => TestPng.Encode(2, 2, (_, _) => ((byte)step, 0, 0));

    public async Task<IReadOnlyList<JobImage>> ExecuteAsync(GenerationSpec spec, IJobProgress progress, CancellationToken cancellationToken)
    {
        lock (Executed)
        {
            Executed.Add(spec);
            MaxConcurrency = Math.Max(MaxConcurrency, Interlocked.Increment(ref _running));
        }
        try
        {
            Started.TrySetResult();
            progress.StageStarted(PipelineStage.CheckInputs);
            progress.StageStarted(PipelineStage.EncodePrompt);
            if (Gate is { } gate) await WaitAsync(gate.Task, spec, cancellationToken);
            progress.StageStarted(PipelineStage.Denoise);
            int total = spec.DenoisingSteps;
            for (int step = (spec.Request.Resume?.Step ?? 0) + 1; step <= total; step++)
            {
                if (StepDelay > TimeSpan.Zero) await WaitAsync(Task.Delay(StepDelay, cancellationToken), spec, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
                var preview = spec.PreviewInterval > 0 && step % spec.PreviewInterval == 0
                    ? new JobPreview("image/png", ExpectedPreview(step), 2, 2)
                    : null;
                var checkpoint = spec.CheckpointInterval > 0 && step % spec.CheckpointInterval == 0 ? Tensor.FromArray(new[] { (float)step }, 1) : null;
                progress.StepCompleted(step, total, preview, checkpoint);
                if (step == HoldAfterStep) await WaitAsync(Task.Delay(Timeout.Infinite, cancellationToken), spec, cancellationToken);
            }
            if (Failure is { } failure) throw failure;
            progress.StageStarted(PipelineStage.Decode);
            var (width, height) = (spec.Request.Width, spec.Request.Height);
            return spec.Seeds.Select(seed => new JobImage(JobImage.Png, ExpectedPng(width, height, seed), width, height, seed)).ToList();
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    private async Task WaitAsync(Task task, GenerationSpec spec, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Cancelled.TrySetResult(spec.Request.Prompt);
            throw;
        }
    }
}
