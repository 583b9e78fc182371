using Google.Protobuf.Reflection;

namespace Sd3Mesh.Rpc.Reflection;

/// <summary>
/// The .proto files behind a set of services (with their transitive imports), findable by file name and
/// by fully-qualified symbol (service, method, message, enum, nested types).
/// </summary>
public sealed class DescriptorIndex
{
    private readonly Dictionary<string, FileDescriptor> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FileDescriptor> _symbols = new(StringComparer.Ordinal);

    public DescriptorIndex(IEnumerable<ServiceDescriptor> services)
    {
        foreach (var service in services) AddFile(service.File);
    }

    public IReadOnlyCollection<FileDescriptor> Files => _files.Values;

    public FileDescriptor? FindFile(string name) => _files.GetValueOrDefault(name);
    public FileDescriptor? FindFileContainingSymbol(string symbol) => _symbols.GetValueOrDefault(symbol.TrimStart('.'));

    /// <summary><paramref name="file"/> and every file it imports, transitively; the file first, each once.</summary>
    public static List<FileDescriptor> WithDependencies(FileDescriptor file)
    {
        var result = new List<FileDescriptor>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<FileDescriptor>();
        pending.Push(file);
        while (pending.Count > 0)
        {
            var next = pending.Pop();
            if (!seen.Add(next.Name)) continue;
            result.Add(next);
            foreach (var dependency in next.Dependencies) pending.Push(dependency);
        }
        return result;
    }

    /// <summary>
    /// A serialized google.protobuf.FileDescriptorSet of <paramref name="files"/> and their imports,
    /// imports before importers (what protoc --descriptor_set_out --include_imports writes).
    /// </summary>
    public static byte[] ToFileDescriptorSet(params FileDescriptor[] files)
    {
        var ordered = new List<FileDescriptor>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Visit(FileDescriptor f)
        {
            if (!seen.Add(f.Name)) return;
            foreach (var dependency in f.Dependencies) Visit(dependency);
            ordered.Add(f);
        }
        foreach (var f in files) Visit(f);

        // FileDescriptorSet { repeated FileDescriptorProto file = 1; }
        var output = new MemoryStream();
        var coded = new Google.Protobuf.CodedOutputStream(output);
        foreach (var f in ordered)
        {
            coded.WriteTag(1, Google.Protobuf.WireFormat.WireType.LengthDelimited);
            coded.WriteBytes(f.SerializedData);
        }
        coded.Flush();
        return output.ToArray();
    }

    private void AddFile(FileDescriptor file)
    {
        if (!_files.TryAdd(file.Name, file)) return;
        foreach (var dependency in file.Dependencies) AddFile(dependency);
        foreach (var service in file.Services)
        {
            _symbols.TryAdd(service.FullName, file);
            foreach (var method in service.Methods) _symbols.TryAdd(method.FullName, file);
        }
        foreach (var message in file.MessageTypes) AddMessage(message, file);
        foreach (var enumType in file.EnumTypes) _symbols.TryAdd(enumType.FullName, file);
        foreach (var extension in file.Extensions.UnorderedExtensions) _symbols.TryAdd(extension.FullName, file);
    }

    private void AddMessage(MessageDescriptor message, FileDescriptor file)
    {
        _symbols.TryAdd(message.FullName, file);
        foreach (var nested in message.NestedTypes) AddMessage(nested, file);
        foreach (var enumType in message.EnumTypes) _symbols.TryAdd(enumType.FullName, file);
    }
}
