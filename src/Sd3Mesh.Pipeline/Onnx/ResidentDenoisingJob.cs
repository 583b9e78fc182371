using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Sd3Mesh.Onnx;
using Sd3Mesh.Pipeline.Prompting;
using Sd3Mesh.Pipeline.Stages;
using Sd3Mesh.Tensors;

namespace Sd3Mesh.Pipeline.Onnx;

/// <summary>
/// A denoising job whose latents and prompt embeddings stay in the transformer's device memory from the first
/// step to the last (IoBinding): the embeddings are uploaded once, each step runs the transformer and then the step
/// graph (<see cref="DenoiseStepGraphs"/>: guidance and the Euler update) on the device, and only the final latents
/// (or a preview, when asked) leave it. The transformer's inputs and outputs are fixed device buffers, so its runs
/// can be captured into a CUDA graph and replayed. Every ONNX Runtime call runs on the device's queue. The same code
/// runs on the CPU (cpu:N devices), which is how the tests check it against the host loop.
/// </summary>
public sealed class ResidentDenoisingJob : IDenoisingJob
{
    private readonly OnnxSubmodule _transformer;
    private readonly OnnxSession _step;
    private readonly DenoisingSetup _setup;
    private readonly StepLayout _layout;
    private readonly List<IDisposable> _owned = [];
    private readonly OrtValue[] _x = new OrtValue[2]; // float32 latents, ping-pong: a step reads one and writes the other
    private readonly OrtValue _modelIn, _timestep;
    private readonly OnnxBinding[] _passes; // the transformer's binding(s): [one] or [negative, positive]
    private readonly OrtValue[] _outputs;   // their outputs, fixed buffers
    private readonly OnnxBinding _stepBinding;
    private int _current;
    private bool _disposed;

    private Device Device => _transformer.Device;

    /// <summary>Builds the job on the transformer's device. Call it on the device's queue.</summary>
    internal ResidentDenoisingJob(OnnxSubmodule transformer, OnnxSession prepare, OnnxSession step, DenoisingSetup setup, StepLayout layout,
        CancellationToken ct)
    {
        _transformer = transformer;
        _step = step;
        _setup = setup;
        _layout = layout;
        var session = transformer.Session;
        var info = transformer.Info;
        try
        {
            _x[0] = Own(session.Allocate(DType.Float32, layout.LatentShape));
            _x[1] = Own(session.Allocate(DType.Float32, layout.LatentShape));
            _modelIn = Own(session.Allocate(layout.ModelDType, layout.TransformerShape));
            _timestep = Own(session.Allocate(layout.TimestepDType, new TensorShape(layout.TransformerBatch)));

            // The first model inputs, and the latents moved onto the device.
            using (var first = prepare.CreateBinding())
            {
                first.BindInput("x_host", setup.Latents.AsDType(DType.Float32));
                first.BindInput("t", Tensor.Scalar(setup.Schedule.Timesteps[setup.Schedule.BeginIndex]));
                first.BindOutput("x", _x[0]);
                first.BindOutput("model_in", _modelIn);
                first.BindOutput("timestep", _timestep);
                prepare.Run(first, ct);
            }

            PromptEmbeddings[] sides = layout.Guidance switch
            {
                GuidanceLayout.Batched => [PromptEmbeddings.ConcatForGuidance(setup.Negative!, setup.Positive)],
                GuidanceLayout.Split => [setup.Negative!, setup.Positive],
                _ => [setup.Positive],
            };
            _passes = new OnnxBinding[sides.Length];
            _outputs = new OrtValue[sides.Length];
            for (int i = 0; i < sides.Length; i++)
            {
                var pass = _passes[i] = Own(session.CreateBinding());
                pass.BindInput(info.Input("hidden_states").Name, _modelIn);
                pass.BindInput(info.Input("timestep").Name, _timestep);
                // The embeddings reach the device once per job.
                var embeds = Upload(sides[i].Embeds, info.Input("encoder_hidden_states").DType);
                var pooled = Upload(sides[i].Pooled, info.Input("pooled_projections").DType);
                pass.BindInput(info.Input("encoder_hidden_states").Name, embeds);
                pass.BindInput(info.Input("pooled_projections").Name, pooled);
                _outputs[i] = Own(session.Allocate(layout.ModelDType, layout.TransformerShape));
                pass.BindOutput(info.Output("out_hidden_states").Name, _outputs[i]);
                // One captured CUDA graph per binding (ids 1, 2: 0 is ONNX Runtime's own).
                if (sides.Length > 1) pass.GraphId = i + 1;
            }

            _stepBinding = Own(step.CreateBinding());
            if (layout.Guidance == GuidanceLayout.Split)
            {
                _stepBinding.BindInput("u", _outputs[0]);
                _stepBinding.BindInput("c", _outputs[1]);
            }
            else
            {
                _stepBinding.BindInput("v", _outputs[0]);
            }
            _stepBinding.BindOutput("model_in", _modelIn);
            _stepBinding.BindOutput("timestep", _timestep);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>Starts a job: uploads what it needs and prepares the first step, on the transformer's device queue.</summary>
    internal static Task<IDenoisingJob> BeginAsync(OnnxSubmodule transformer, Func<StepLayout, (OnnxSession Prepare, OnnxSession Step)> graphs,
        DenoisingSetup setup, CancellationToken cancellationToken) =>
        transformer.Queue.RunAsync<IDenoisingJob>(ct =>
        {
            var layout = LayoutOf(transformer, setup);
            var (prepare, step) = graphs(layout);
            return new ResidentDenoisingJob(transformer, prepare, step, setup, layout, ct);
        }, cancellationToken);

    internal static StepLayout LayoutOf(OnnxSubmodule transformer, DenoisingSetup setup) => new(
        !setup.Guidance ? GuidanceLayout.None : setup.CfgMode == Guidance.CfgMode.Batched ? GuidanceLayout.Batched : GuidanceLayout.Split,
        setup.Latents.Shape, transformer.Info.Input("hidden_states").DType, transformer.Info.Input("timestep").DType);

    public Task StepAsync(int index, CancellationToken cancellationToken = default) =>
        _transformer.Queue.RunAsync(ct => Step(index, ct), cancellationToken);

    private void Step(int index, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var schedule = _setup.Schedule;
        foreach (var pass in _passes)
        {
            long start = Stopwatch.GetTimestamp();
            _transformer.Run(pass, ct);
            _setup.Timings.Add(StageNames.Transformer, Stopwatch.GetElapsedTime(start));
        }

        long stepStart = Stopwatch.GetTimestamp();
        _stepBinding.BindInput("x", _x[_current]);
        _stepBinding.BindOutput("x_next", _x[1 - _current]);
        _stepBinding.BindInput("dt", Tensor.Scalar(schedule.Sigmas[index + 1] - schedule.Sigmas[index])); // float32, as the host step
        _stepBinding.BindInput("t_next", Tensor.Scalar(index + 1 < schedule.Timesteps.Count ? schedule.Timesteps[index + 1] : 0f));
        if (_layout.Guidance != GuidanceLayout.None) _stepBinding.BindInput("scale", Tensor.Scalar((float)_setup.GuidanceScale));
        _step.Run(_stepBinding, ct);
        _current = 1 - _current;
        _setup.Timings.Add("scheduler", Stopwatch.GetElapsedTime(stepStart));
    }

    /// <summary>Copies the latents off the device (on its queue).</summary>
    public Task<Tensor> ReadLatentsAsync(CancellationToken cancellationToken = default) =>
        _transformer.Queue.RunAsync(_ =>
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return DeviceCopies.ToHost(_x[_current], Device);
        }, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // On the queue: never under a step that is still running there.
        await _transformer.Queue.RunAsync(_ => Release()).ConfigureAwait(false);
    }

    private OrtValue Upload(Tensor tensor, DType dtype) => Own(DeviceCopies.ToDevice(OnnxSubmodule.Cast(tensor, dtype), Device));

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    private void Release()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose(); // bindings before the values they hold
        _owned.Clear();
    }
}
