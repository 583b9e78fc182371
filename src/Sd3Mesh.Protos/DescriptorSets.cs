using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Sd3Mesh.Protos;

/// <summary>
/// Compiled .proto files as a FileDescriptorSet: how peers without generated code (grpcio in the tests and
/// in `sd3mesh bench rpc`) learn our messages.
/// </summary>
public static class DescriptorSets
{
    /// <summary>The files and everything they import, imports first; each file once.</summary>
    public static byte[] Of(params FileDescriptor[] files)
    {
        var ordered = new List<FileDescriptor>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Visit(FileDescriptor file)
        {
            if (!seen.Add(file.Name)) return;
            foreach (var dependency in file.Dependencies) Visit(dependency);
            ordered.Add(file);
        }
        foreach (var file in files) Visit(file);

        // FileDescriptorSet { repeated FileDescriptorProto file = 1; }, written without descriptor.proto's classes.
        var output = new MemoryStream();
        var coded = new CodedOutputStream(output);
        foreach (var file in ordered)
        {
            coded.WriteTag(1, WireFormat.WireType.LengthDelimited);
            coded.WriteBytes(file.SerializedData);
        }
        coded.Flush();
        return output.ToArray();
    }
}
