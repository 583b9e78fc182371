using System.Buffers;
using System.Runtime.InteropServices;

namespace Sd3Mesh.Tensors;

/// <summary>
/// Exposes a typed managed array as Memory&lt;byte&gt; without copying, so a float[] can back a tensor
/// and still be pinned and handed to native code.
/// </summary>
internal sealed unsafe class ArrayByteMemory<T> : MemoryManager<byte> where T : unmanaged
{
    private readonly T[] _array;
    private readonly int _start;
    private readonly int _length;

    public ArrayByteMemory(T[] array, int start, int length)
    {
        _array = array;
        _start = start;
        _length = length;
    }

    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(_array.AsSpan(_start, _length));

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        var handle = GCHandle.Alloc(_array, GCHandleType.Pinned);
        byte* basePtr = (byte*)handle.AddrOfPinnedObject() + (long)_start * sizeof(T);
        return new MemoryHandle(basePtr + elementIndex, handle, this);
    }

    public override void Unpin() { } // the GCHandle in the MemoryHandle is freed by its Dispose

    protected override void Dispose(bool disposing) { }
}
