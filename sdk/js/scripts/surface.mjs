// The SDK's public surface as JSON, read from its type declarations (dist/index.d.ts, through
// the TypeScript compiler's checker) and from the built module itself: every export with its
// kind; each class's public properties, methods and their parameters (an `opts` parameter's
// properties apart); each interface's fields; each function's parameters; a namespace export's
// members (`tools`); the constants' values; the error classes' parents and the server's error
// table. tests/unit/test_sdk_surface.py compares it with the Python SDK.
//
//     node scripts/surface.mjs    (after the build)
import { fileURLToPath, pathToFileURL } from 'node:url'

import ts from 'typescript'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const entry = dist + 'index.d.ts'
const program = ts.createProgram([entry], { strict: true, noEmit: true, types: ['node'] })
const checker = program.getTypeChecker()
const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry))

const ours = (declaration) => declaration.getSourceFile().fileName.startsWith(dist)
const isPrivate = (declaration) =>
  (ts.getCombinedModifierFlags(declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !==
    0 ||
  (declaration.name && ts.isPrivateIdentifier(declaration.name))

/** A signature's parameters: `{positional: [names], options: [the opts parameter's properties]}`. */
function parameters(signature) {
  const positional = []
  const options = []
  for (const parameter of signature.getParameters()) {
    if (parameter.name === 'opts') {
      const type = checker.getNonNullableType(checker.getTypeOfSymbol(parameter))
      for (const property of checker.getPropertiesOfType(type)) options.push(property.name)
    } else {
      positional.push(parameter.name)
    }
  }
  return { positional, options }
}

/** Public members declared by this class itself (not inherited, not private). */
function members(type, owner) {
  const properties = []
  const methods = {}
  for (const symbol of checker.getPropertiesOfType(type)) {
    const declarations = (symbol.getDeclarations() ?? []).filter(ours)
    if (!declarations.length || symbol.name.startsWith('__@') || symbol.name === 'prototype') continue
    if (declarations.some(isPrivate)) continue
    if (owner && !declarations.some((d) => d.parent?.name?.text === owner)) continue
    if (symbol.flags & ts.SymbolFlags.Method) {
      const signatures = checker.getTypeOfSymbol(symbol).getCallSignatures()
      methods[symbol.name] = parameters(signatures[0])
    } else {
      properties.push(symbol.name)
    }
  }
  return { properties: properties.sort(), methods }
}

const surface = { exports: {}, namespaces: {}, classes: {}, interfaces: {}, functions: {} }

/** A module's exports into `kinds`; the classes, interfaces and functions of a namespace export
 * (`export * as tools`) are keyed by their dotted name (`tools.ToolOutput`). */
function describe(moduleSymbol, prefix, kinds) {
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
    const name = prefix + exported.name
    if (symbol.flags & ts.SymbolFlags.ValueModule) {
      kinds[exported.name] = 'namespace'
      surface.namespaces[name] = {}
      describe(symbol, name + '.', surface.namespaces[name])
    } else if (symbol.flags & ts.SymbolFlags.Class) {
      kinds[exported.name] = 'class'
      const instance = members(checker.getDeclaredTypeOfSymbol(symbol), symbol.name)
      const staticSide = checker.getTypeOfSymbol(symbol)
      const statics = members(staticSide, symbol.name)
      const construct = staticSide.getConstructSignatures()
      surface.classes[name] = {
        properties: instance.properties,
        methods: instance.methods,
        static: statics.methods,
        constructor: construct.length ? parameters(construct[0]) : { positional: [], options: [] },
      }
    } else if (symbol.flags & ts.SymbolFlags.Interface) {
      kinds[exported.name] = 'interface'
      const type = checker.getDeclaredTypeOfSymbol(symbol)
      surface.interfaces[name] = checker
        .getPropertiesOfType(type)
        .map((p) => p.name)
        .sort()
    } else if (symbol.flags & ts.SymbolFlags.TypeAlias) {
      kinds[exported.name] = 'type'
    } else if (symbol.flags & ts.SymbolFlags.Function) {
      kinds[exported.name] = 'function'
      surface.functions[name] = parameters(checker.getTypeOfSymbol(symbol).getCallSignatures()[0])
    } else {
      kinds[exported.name] = 'value'
    }
  }
}
describe(moduleSymbol, '', surface.exports)

// What the built module really exports at run time (a namespace's members by dotted name, the
// constants' values as JSON, `same`: the top-level export a namespace member is), and its error
// classes' tree.
const runtime = await import(pathToFileURL(dist + 'index.js').href)
const { SERVER_TYPES } = await import(pathToFileURL(dist + 'errors.js').href)
surface.runtime = {}
surface.values = {}
surface.errors = {}
const topLevel = new Map(Object.entries(runtime).map(([name, value]) => [value, name]))
function record(name, value, nested) {
  if (typeof value !== 'function') {
    if (Object.prototype.toString.call(value) === '[object Module]') {
      surface.runtime[name] = { kind: 'namespace' }
      for (const [member, item] of Object.entries(value)) record(`${name}.${member}`, item, true)
      return
    }
    surface.runtime[name] = { kind: typeof value }
    surface.values[name] = value
    return
  }
  const prototype = Object.getOwnPropertyNames(value.prototype ?? {}).filter((n) => n !== 'constructor')
  const statics = Object.getOwnPropertyNames(value).filter(
    (n) => !['length', 'name', 'prototype'].includes(n),
  )
  surface.runtime[name] = { kind: 'function', prototype: prototype.sort(), static: statics.sort() }
  if (nested && topLevel.has(value)) surface.runtime[name].same = topLevel.get(value)
  if (!nested && value.prototype instanceof Error) surface.errors[name] = Object.getPrototypeOf(value).name
}
for (const [name, value] of Object.entries(runtime)) record(name, value, false)
surface.serverTypes = Object.fromEntries(Object.entries(SERVER_TYPES).map(([k, v]) => [k, v.name]))

process.stdout.write(JSON.stringify(surface, null, 2) + '\n')
