// The SDK's public surface as JSON, read from its type declarations (dist/index.d.ts, through
// the TypeScript compiler's checker) and from the built module itself: every export with its
// kind; each class's public properties, methods and their parameters (an `opts` parameter's
// properties apart); each interface's fields; the error classes' parents and the server's
// error table. tests/unit/test_sdk_surface.py compares it with the Python SDK.
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

const surface = { exports: {}, classes: {}, interfaces: {} }
for (const exported of checker.getExportsOfModule(moduleSymbol)) {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
  const name = exported.name
  if (symbol.flags & ts.SymbolFlags.Class) {
    surface.exports[name] = 'class'
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
    surface.exports[name] = 'interface'
    const type = checker.getDeclaredTypeOfSymbol(symbol)
    surface.interfaces[name] = checker
      .getPropertiesOfType(type)
      .map((p) => p.name)
      .sort()
  } else if (symbol.flags & ts.SymbolFlags.TypeAlias) {
    surface.exports[name] = 'type'
  } else if (symbol.flags & ts.SymbolFlags.Function) {
    surface.exports[name] = 'function'
  } else {
    surface.exports[name] = 'value'
  }
}

// What the built module really exports at run time, and its error classes' tree.
const runtime = await import(pathToFileURL(dist + 'index.js').href)
const { SERVER_TYPES } = await import(pathToFileURL(dist + 'errors.js').href)
surface.runtime = {}
surface.errors = {}
for (const [name, value] of Object.entries(runtime)) {
  if (typeof value !== 'function') {
    surface.runtime[name] = { kind: typeof value }
    continue
  }
  const prototype = Object.getOwnPropertyNames(value.prototype ?? {}).filter((n) => n !== 'constructor')
  const statics = Object.getOwnPropertyNames(value).filter(
    (n) => !['length', 'name', 'prototype'].includes(n),
  )
  surface.runtime[name] = { kind: 'function', prototype: prototype.sort(), static: statics.sort() }
  if (value.prototype instanceof Error) surface.errors[name] = Object.getPrototypeOf(value).name
}
surface.serverTypes = Object.fromEntries(Object.entries(SERVER_TYPES).map(([k, v]) => [k, v.name]))

process.stdout.write(JSON.stringify(surface, null, 2) + '\n')
